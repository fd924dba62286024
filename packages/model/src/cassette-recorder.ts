import { existsSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import type { ChatAnswer } from './chat.ts';
import type { AnswerRecorder } from './ladder.ts';
import { cassetteSchema, type Cassette } from './replay.ts';

/**
 * Record mode: appends each real answer to a cassette file, keyed by gap id, so that a real
 * session replays later as a test (`replay` provider). Writes are serialised within one
 * process; give each recording worker its own file.
 */
export class CassetteRecorder implements AnswerRecorder {
  private chain: Promise<void> = Promise.resolve();
  constructor(readonly file: string) {}

  record(gap: { id: string; text: string }, answer: ChatAnswer): Promise<void> {
    this.chain = this.chain.then(() => this.append(gap, answer));
    return this.chain;
  }

  private async append(gap: { id: string; text: string }, answer: ChatAnswer): Promise<void> {
    const cassette: Cassette = existsSync(this.file)
      ? cassetteSchema.parse(JSON.parse(await readFile(this.file, 'utf8')))
      : { version: 1, entries: [] };
    let entry = cassette.entries.find((e) => e.gap === gap.id);
    if (!entry)
      cassette.entries.push(
        (entry = { gap: gap.id, answers: [] as Cassette['entries'][number]['answers'] } as Cassette['entries'][number]),
      );
    entry.answers.push({ content: answer.content, ...(answer.usage ? { usage: answer.usage } : {}) });
    await writeFile(`${this.file}.tmp`, JSON.stringify(cassette, null, 2) + '\n');
    await rename(`${this.file}.tmp`, this.file);
  }
}
