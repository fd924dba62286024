import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createHarness, startModelServer, type Harness, type ModelServer } from '@prbot/test-support';
import { defaultPolicy } from '@prbot/policy';
import { produce } from '@prbot/control';
import { startWorkers } from '@prbot/worker';
import { repoWithGaps } from '@prbot/test-support';
import { waitForOutcomes } from '@prbot/worker';
import { recordRow } from './support.ts';

/**
 * The slots live on a 6 MiB tmpfs and the test fills it: the machine failed, not the change.
 * The test stage throws InfraError naming the disk (retried, then — with stageRunner's
 * infra handling — infra_failed), never a tests_failed of the change's own making.
 */
let h: Harness;
let server: ModelServer;
let slots: string;

beforeAll(async () => {
  server = await startModelServer(() => ({
    content: JSON.stringify({ summary: 'fills the disk', files: [{ path: 'fill.cjs', is_new: true, content: "require('fs').writeFileSync('fill.bin', Buffer.alloc(64 << 20, 1));\n" }] }),
  }));
  const repo = await repoWithGaps(['Gap 0 fills the disk']);
  h = await createHarness({
    repo,
    env: { PRBOT_TEST_KEY: 'k' },
    config: {
      models: { providers: { loop: { kind: 'openai', baseUrl: server.baseUrl, keyEnv: 'PRBOT_TEST_KEY' } }, propose: ['loop/m'] },
      tests: { commands: [['node', 'fill.cjs']], timeoutMs: 30_000 },
      queues: { test: { concurrency: 1, attempts: 2 } },
    },
  });
  slots = path.join(h.rt.workdir, 'slots');
  await mkdir(slots, { recursive: true });
  await execa('mount', ['-t', 'tmpfs', '-o', 'size=6m,mode=755', 'prbot-enospc', slots]);
});

afterAll(async () => {
  await execa('umount', ['-l', slots]).catch(() => {});
  await h?.cleanup();
  await server?.close();
});

it('a full disk under the slots is an infrastructure failure that names the disk, not tests_failed', async () => {
  const workers = startWorkers(h.rt, defaultPolicy, { queues: ['propose', 'apply', 'test', 'pr', 'events'] });
  try {
    const ids = (await produce(h.rt, defaultPolicy)).lines.map((l) => l.cycleId!);
    const [rec] = await waitForOutcomes(h.rt, ids, 120_000);
    const job = await h.rt.queues.test.getJob(`${rec!.cycle_id}-test`);
    // What the stage threw: InfraError, naming the file system that is full.
    expect(job?.failedReason).toMatch(/disk full: the file system of .*slots.* has \d+ KiB free/);
    expect(rec!.reason).toMatch(/disk full/);
    // Never the tests' verdict: either infra_failed, or (before stageRunner maps InfraError)
    // the stage's exhausted outcome recorded after its retries.
    if (rec!.outcome !== 'infra_failed') expect(rec!.reason).toMatch(/^test gave up after its retries: disk full/);
    recordRow({ fault: 'ENOSPC: slots on a 6 MiB tmpfs filled by the test', injections: 1, inFlight: 1, lost: 0, duplicates: 0, notes: `outcome ${rec!.outcome}: ${rec!.reason.slice(0, 120)}` });
  } finally {
    await workers.close(2000);
  }
});
