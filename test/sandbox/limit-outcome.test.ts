import { afterAll, describe, expect, it } from 'vitest';
import { FAILURE_OUTCOMES, gapId, newCycleId, type CycleRecord, type ProposeJob } from '@prbot/core';
import { jobKeyFrom, signJob, stageJobId } from '@prbot/pipeline';
import { createHarness, repoWithGaps, startModelServer, type Harness, type ModelServer } from '@prbot/test-support';
import { defaultPolicy } from '@prbot/policy';
import { startWorkers, waitForOutcomes } from '@prbot/worker';

/**
 * The whole test stage with a real worker and sandbox: model-written tests that grow past
 * tests.limits.memoryMb end the cycle `infra_failed` with the limit in the record (the machine's
 * bound, never counted against the gap), while tests that merely fail stay `tests_failed`.
 */
const open: { h: Harness; server: ModelServer }[] = [];
afterAll(async () => {
  for (const o of open) {
    await o.h.cleanup();
    await o.server.close();
  }
});

const HOG = `const keep = []; let mb = 0;
const step = () => { keep.push(Buffer.alloc(16 << 20, 1)); mb += 16; console.log('MB ' + mb); if (mb < 1200) setTimeout(step, 5); else console.log('held 1200'); };
step();`;
const FAILS = `console.log('expected 5, got 6'); process.exit(1);`;

async function cycle(testFile: string): Promise<CycleRecord> {
  const server = await startModelServer(() => ({
    content: JSON.stringify({ summary: 'a test', files: [{ path: 'check.cjs', is_new: true, content: testFile }] }),
  }));
  const repo = await repoWithGaps(['Gap 0']);
  const h = await createHarness({
    repo,
    env: { PRBOT_TEST_KEY: 'k' },
    config: {
      models: {
        providers: { loop: { kind: 'openai', baseUrl: server.baseUrl, keyEnv: 'PRBOT_TEST_KEY' } },
        propose: ['loop/m'],
      },
      tests: { commands: [['node', 'check.cjs']], timeoutMs: 60_000, sandbox: 'bwrap', limits: { memoryMb: 300 } },
      queues: { test: { concurrency: 1, attempts: 1 } },
      forge: { kind: 'local', maxOpen: 100, maxPerHour: 100 },
    },
  });
  open.push({ h, server });
  const workers = startWorkers(h.rt, defaultPolicy, { queues: ['propose', 'apply', 'test', 'pr', 'events'] });
  try {
    await h.rt.mirror.sync();
    const job: ProposeJob = {
      cycleId: newCycleId(),
      gap: { id: gapId('Gap 0'), text: 'Gap 0', line: 3 },
      baseCommit: await h.rt.mirror.resolve('main'),
      createdAt: Date.now(),
      dryRun: true,
      notes: [],
    };
    await h.rt.queues.propose.add('propose', signJob('propose', job, jobKeyFrom(h.rt.env, h.cfg.jobs.keyEnv)), {
      jobId: stageJobId(job.cycleId, 'propose'),
    });
    return (await waitForOutcomes(h.rt, [job.cycleId], 90_000))[0]!;
  } finally {
    await workers.close(2000);
  }
}

describe("a limit is the machine's bound, not the change's failure", () => {
  it('tests that outgrow tests.limits.memoryMb: infra_failed, the limit named in the record, not a failure of the gap', async () => {
    const r = await cycle(HOG);
    expect(r.outcome, r.reason).toBe('infra_failed');
    expect(FAILURE_OUTCOMES.has(r.outcome)).toBe(false);
    expect(r.limit).toMatchObject({ kind: 'memory', limit: 300, unit: 'MiB' });
    expect(r.reason).toMatch(
      /^limit: test command `node check\.cjs` hit tests\.limits \(memory: 300 MiB, saw \d+, held by (watchdog|cgroup)\)/,
    );
    expect(r.tests[0]!.tail).not.toContain('held 1200');
  });

  it('control: tests that fail on their own are still tests_failed, with no limit', async () => {
    const r = await cycle(FAILS);
    expect(r.outcome).toBe('tests_failed');
    expect(r.limit).toBeUndefined();
  });
});
