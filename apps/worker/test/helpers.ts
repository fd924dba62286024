import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { getRecord, outcomeOf, QUEUE_NAMES, type Runtime } from '@prbot/pipeline';
import { type CycleRecord } from '@prbot/core';
import { type Cassette } from '@prbot/model';
import { REPO_ROOT, type ModelServer, type Script } from '@prbot/test-support';
import { defaultPolicy, type Policy } from '@prbot/policy';
import { produce, type ProduceReport } from '@prbot/control';
import { startWorkers, type WorkerSet } from '../src/workers.ts';

export { repoWithGaps } from '@prbot/test-support';

/** A model-server script that answers like the demo cassette, matching the gap in the prompt. */
export async function cassetteScript(): Promise<(req: Parameters<ModelServer['script']>[0]) => Script> {
  const cassette = JSON.parse(
    await readFile(path.join(REPO_ROOT, 'examples', 'demo-cassette.json'), 'utf8'),
  ) as Cassette;
  return (req) => {
    const prompt = req.body.messages
      .map((m) => m.content)
      .join('\n')
      .toLowerCase();
    const gapLine = prompt.split('\n').find((l) => l.startsWith('gap from')) ?? '';
    const entry = cassette.entries.find((e) => gapLine.includes(e.gap.toLowerCase()));
    return entry ? { content: entry.answers[0]!.content } : { content: 'I do not know this gap.' };
  };
}

export function openaiModels(server: ModelServer, keyEnv = 'PRBOT_TEST_KEY') {
  return {
    providers: { loop: { kind: 'openai' as const, baseUrl: server.baseUrl, keyEnv } },
    propose: ['loop/test-model'],
  };
}

export interface Run {
  report: ProduceReport;
  records: CycleRecord[];
  byGap(fragment: string): CycleRecord;
}

/** Starts all workers, runs produce, waits until every enqueued cycle has its outcome. */
/** `producer` runs produce on another runtime (e.g. before a token went bad). */
export async function runAll(
  rt: Runtime,
  o: { policy?: Policy; workers?: WorkerSet; timeoutMs?: number; producer?: Runtime } = {},
): Promise<Run> {
  const policy = o.policy ?? defaultPolicy;
  const workers = o.workers ?? startWorkers(rt, policy, { queues: [...QUEUE_NAMES] });
  try {
    const report = await produce(o.producer ?? rt, policy);
    const ids = report.lines.filter((l) => l.action === 'enqueued').map((l) => l.cycleId!);
    const records = await waitForOutcomes(rt, ids, o.timeoutMs);
    return {
      report,
      records,
      byGap: (f) => {
        const r = records.find((x) => x.gap_text?.includes(f));
        if (!r) throw new Error(`no record for a gap containing "${f}"`);
        return r;
      },
    };
  } finally {
    if (!o.workers) await workers.close(2000);
  }
}

export async function waitForOutcomes(rt: Runtime, ids: string[], timeoutMs = 30_000): Promise<CycleRecord[]> {
  const deadline = Date.now() + timeoutMs;
  // An outcome is recorded once and stays: each poll asks only about the cycles still open (a
  // 300-cycle run polled every cycle 20 times a second, a CPU's worth of Redis round trips).
  let open = [...ids];
  for (;;) {
    const outcomes = await Promise.all(open.map((id) => outcomeOf(rt.redis, rt.keys, id)));
    open = open.filter((_, i) => !outcomes[i]);
    if (open.length === 0) break;
    if (Date.now() > deadline) throw new Error(`cycles without an outcome after ${timeoutMs} ms: ${open.join(', ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return (await Promise.all(ids.map((id) => getRecord(rt.redis, rt.keys, id)))) as CycleRecord[];
}
