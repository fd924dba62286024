import type { Script, RecordedRequest } from '@prbot/test-support';

/** The gap's number, from "Gap from docs/PRD.md: Gap 17 …" in the prompt. */
export function gapNumber(req: RecordedRequest): number {
  const m = /Gap from [^:]+: (?:Gap|Hostile) (\d+)/.exec(req.body.messages.map((x) => x.content).join('\n'));
  return m ? Number(m[1]) : -1;
}

/** A passing change with files of its own per gap, so every cycle can reach a PR. */
export function passingAnswer(n: number): Script {
  const src = `export const v${n} = ${n};\n`;
  const test = `import { test } from 'node:test';\nimport assert from 'node:assert/strict';\nimport { v${n} } from '../src/g${n}.js';\ntest('g${n}', () => assert.equal(v${n}, ${n}));\n`;
  return {
    content: JSON.stringify({
      summary: `adds g${n}`,
      files: [
        { path: `src/g${n}.js`, is_new: true, content: src },
        { path: `test/g${n}.test.js`, is_new: true, content: test },
      ],
    }),
  };
}

export function gapLines(n: number, word = 'Gap'): string[] {
  return Array.from({ length: n }, (_, i) => `${word} ${i} of the reliability run`);
}
