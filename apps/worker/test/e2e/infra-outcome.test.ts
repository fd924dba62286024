import { afterEach, expect, it } from 'vitest';
import { stageRunnerDefences, stageJobId } from '@prbot/pipeline';
import { createHarness, startModelServer, type Harness, type ModelServer } from '@prbot/test-support';
import { openaiModels, repoWithGaps, runAll } from '../helpers.ts';

let h: Harness | undefined;
let server: ModelServer | undefined;

afterEach(async () => {
  await h?.cleanup();
  await server?.close();
  h = undefined;
  server = undefined;
});

/** One gap whose test command names a program the tests' PATH lacks: the machine's failure. */
async function missingProgramWorld(): Promise<Harness> {
  server = await startModelServer(() => ({
    content: JSON.stringify({
      summary: 'adds a helper',
      files: [{ path: 'src/helper.js', is_new: true, content: 'export const helper = () => 1;\n' }],
    }),
  }));
  const repo = await repoWithGaps(['Add a helper']);
  return createHarness({
    repo,
    env: { PRBOT_TEST_KEY: 'k' },
    config: {
      models: openaiModels(server),
      tests: { commands: [['prbot-no-such-program-7d1e']] },
      queues: { test: { attempts: 2 } },
    },
  });
}

/**
 * A test command that cannot even start (its program is not on the tests' PATH) is the
 * machine's failure (InfraError), never the change's: after its retries the cycle ends
 * infra_failed, not the test stage's own "gave up" outcome (tests_failed). This is the one
 * in-process check of exhaustedOutcome's InfraError mapping (the ENOSPC reliability row is the
 * other, on a real full disk).
 */
it('an InfraError that outlives its retries ends the cycle infra_failed, not tests_failed', async () => {
  h = await missingProgramWorld();
  const run = await runAll(h.rt);
  const r = run.byGap('helper');
  const job = await h.rt.queues.test.getJob(stageJobId(r.cycle_id, 'test'));
  // What the stage threw, on every attempt: the machine's fault, named.
  expect(job?.failedReason).toMatch(/program "prbot-no-such-program-7d1e" not found on the tests. PATH/);
  expect(job?.stacktrace?.every((s) => s.startsWith('InfraError:'))).toBe(true);
  expect(job?.attemptsMade).toBe(2);
  expect(r).toMatchObject({
    outcome: 'infra_failed',
    reason: expect.stringMatching(/^test gave up after its retries: program "prbot-no-such-program-7d1e" not found/),
  });
});

it('positive control: with the InfraError mapping switched off (in this process only), the same machine failure is blamed on the change', async () => {
  h = await missingProgramWorld();
  stageRunnerDefences.infraOutcome = false;
  let r;
  try {
    r = (await runAll(h.rt)).byGap('helper');
  } finally {
    stageRunnerDefences.infraOutcome = true;
  }
  expect(r).toMatchObject({
    outcome: 'tests_failed',
    reason: expect.stringMatching(/^test gave up after its retries: program "prbot-no-such-program-7d1e" not found/),
  });
});
