import { existsSync, readdirSync, type Dirent } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gapId, newCycleId, type ProposeJob } from '@prbot/core';
import { jobKeyFrom, signJob, stageJobId } from '@prbot/pipeline';
import { createHarness, startModelServer, type Harness, type ModelServer, repoWithGaps } from '@prbot/test-support';
import { defaultPolicy } from '@prbot/policy';
import { sandboxDefences } from '@prbot/sandbox';
import { startWorkers, waitForOutcomes } from '@prbot/worker';
import { gapNumber } from '../reliability/answers.ts';

/**
 * The whole test stage with a real worker: model-written test code of one cycle tries to leave
 * something for the next one ($HOME, $TMPDIR, /tmp) and to plant a `.git` whose hook root's git
 * would run at the next checkout. The next cycle, on the same slot, finds nothing and no hook ran.
 */
const open: { h: Harness; server: ModelServer }[] = [];
afterAll(async () => {
  for (const o of open) {
    await o.h.cleanup();
    await o.server.close();
  }
});

async function twoCycles(sandbox: 'bwrap' | 'off') {
  let h!: Harness;
  const marker = () => path.join(h.dir, 'hook-ran');
  const slotDir = () => path.join(h.rt.slots.root, 'slot-0');
  const stamp = `prbot-leftover-${Math.random().toString(36).slice(2)}`;
  const PLANT = () => `const fs = require('fs'), os = require('os'), path = require('path');
fs.writeFileSync(path.join(os.homedir(), '.npmrc'), 'registry=http://evil.invalid/\\n');
fs.writeFileSync(path.join(os.tmpdir(), '${stamp}'), 'x');
fs.writeFileSync(path.join(os.tmpdir(), 'big.bin'), Buffer.alloc(16 << 20, 1)); // 16 MiB left behind
fs.mkdirSync(path.join(os.homedir(), '.cache', 'deep'), { recursive: true });
fs.writeFileSync(path.join(os.homedir(), '.cache', 'deep', 'blob'), Buffer.alloc(1 << 20, 2));
fs.writeFileSync('/tmp/${stamp}-root', 'x');
// A git dir of the attacker's, inside the work tree, with a hook and fsmonitor that write a marker.
const evil = path.join(process.cwd(), 'evil');
fs.mkdirSync(path.join(evil, 'hooks'), { recursive: true });
fs.mkdirSync(path.join(evil, 'objects', 'info'), { recursive: true });
// The real objects, borrowed, so a checkout through this git dir would succeed and fire the hook.
fs.writeFileSync(path.join(evil, 'objects', 'info', 'alternates'), ${JSON.stringify(path.join(h.rt.mirror.dir, 'objects'))} + '\\n');
fs.mkdirSync(path.join(evil, 'refs'), { recursive: true });
fs.writeFileSync(path.join(evil, 'HEAD'), 'ref: refs/heads/main\\n');
const hostEvil = ${JSON.stringify(slotDir())} + '/evil';
fs.writeFileSync(path.join(evil, 'config'), '[core]\\n\\trepositoryformatversion = 0\\n\\tbare = false\\n\\thooksPath = ' + hostEvil + '/hooks\\n\\tfsmonitor = ' + hostEvil + '/hooks/post-checkout\\n');
fs.writeFileSync(path.join(evil, 'hooks', 'post-checkout'), '#!/bin/sh\\ntouch ${marker()}\\n', { mode: 0o755 });
fs.writeFileSync('.git', 'gitdir: ' + hostEvil + '\\n');
console.log('planted');`;
  const CHECK = `const fs = require('fs'), os = require('os'), path = require('path');
const found = [path.join(os.homedir(), '.npmrc'), path.join(os.tmpdir(), '${stamp}'), '/tmp/${stamp}-root'].filter((p) => fs.existsSync(p));
console.log('found: ' + JSON.stringify(found));
process.exit(found.length ? 1 : 0);`;
  const server = await startModelServer((req) => {
    const n = gapNumber(req);
    return {
      content: JSON.stringify({
        summary: `cycle ${n}`,
        files: [{ path: `leftover${n}.cjs`, is_new: true, content: n === 0 ? PLANT() : CHECK }],
      }),
    };
  });
  const repo = await repoWithGaps(['Gap 0 plants', 'Gap 1 looks']);
  h = await createHarness({
    repo,
    env: { PRBOT_TEST_KEY: 'k' },
    config: {
      models: {
        providers: { loop: { kind: 'openai', baseUrl: server.baseUrl, keyEnv: 'PRBOT_TEST_KEY' } },
        propose: ['loop/m'],
      },
      tests: {
        commands: [['sh', '-c', 'for f in leftover*.cjs; do node "$f" || exit 1; done']],
        timeoutMs: 30_000,
        sandbox,
      },
      queues: { test: { concurrency: 1, attempts: 1 } },
      forge: { kind: 'local', maxOpen: 100, maxPerHour: 100 },
    },
  });
  open.push({ h, server });
  const workers = startWorkers(h.rt, defaultPolicy, { queues: ['propose', 'apply', 'test', 'pr', 'events'] });
  try {
    await h.rt.mirror.sync();
    const base = await h.rt.mirror.resolve('main');
    const key = jobKeyFrom(h.rt.env, h.cfg.jobs.keyEnv);
    const records = [];
    const leftovers: string[][] = [];
    for (const [i, text] of ['Gap 0 plants', 'Gap 1 looks'].entries()) {
      const job: ProposeJob = {
        cycleId: newCycleId(),
        gap: { id: gapId(text), text, line: 3 + i },
        baseCommit: base,
        createdAt: Date.now(),
        dryRun: true,
        notes: [],
      };
      await h.rt.queues.propose.add('propose', signJob('propose', job, key), {
        jobId: stageJobId(job.cycleId, 'propose'),
      });
      records.push((await waitForOutcomes(h.rt, [job.cycleId], 90_000))[0]!);
      // The test job has finished (completed or failed: its processor returned), then what is
      // left of the cycle's $HOME and /tmp on the host is listed.
      const testJob = stageJobId(job.cycleId, 'test');
      for (let n = 0; n < 600 && !['completed', 'failed'].includes(await h.rt.queues.test.getJobState(testJob)); n++)
        await new Promise((r) => setTimeout(r, 50));
      expect(['completed', 'failed']).toContain(await h.rt.queues.test.getJobState(testJob));
      leftovers.push([
        ...filesUnder(path.join(h.rt.workdir, 'home', 'slot-0')),
        ...filesUnder(path.join(h.rt.workdir, 'tmp', 'slot-0')),
      ]);
    }
    return { records, leftovers, hookRan: existsSync(marker()), slotGit: existsSync(path.join(slotDir(), '.git')) };
  } finally {
    await workers.close(2000);
  }
}

/** Every file under `dir` (none when it is gone). */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return (readdirSync(dir, { recursive: true, withFileTypes: true }) as Dirent[])
    .filter((e) => !e.isDirectory())
    .map((e) => path.join(e.parentPath, e.name));
}

describe("nothing survives from one cycle's tests into the next", () => {
  it('sandboxed: $HOME, $TMPDIR and /tmp are fresh, the planted .git is gone and its hook never ran', async () => {
    const { records, leftovers, hookRan, slotGit } = await twoCycles('bwrap');
    // Emptied when each cycle ended, not when the slot's next one starts.
    expect(leftovers).toEqual([[], []]);
    expect(records[0], JSON.stringify(records[0])).toMatchObject({ outcome: 'ok' }); // dry run: tests green, no push
    expect(records[0]!.tests[0]!.tail).toContain('planted');
    expect(records[1]!.tests[0]?.tail).toContain('found: []');
    expect(records[1]).toMatchObject({ outcome: 'ok' });
    expect(hookRan).toBe(false);
    expect(slotGit).toBe(false);
  });

  it("without the sandbox, what the tests leave in the host's /tmp is there for the next cycle", async () => {
    const { records, leftovers, hookRan } = await twoCycles('off');
    expect(leftovers).toEqual([[], []]);
    expect(records[0]).toMatchObject({ outcome: 'ok' });
    expect(records[1]).toMatchObject({ outcome: 'tests_failed' });
    expect(records[1]!.tests[0]!.tail).toMatch(/found: \[".*-root"\]/);
    expect(hookRan).toBe(false); // git never reads a .git from the work tree, sandbox or not
  });

  it("positive control: without the end-of-cycle removal, the 17 MiB the tests left in $HOME and /tmp stay on the host's disk", async () => {
    // Switched off in this process only (sandboxDefences; the worker runs here). The next cycle
    // still starts fresh (freshDir empties both at its start): what is shown is the disk held
    // between a cycle's end and the slot's next one.
    sandboxDefences.scratchDroppedAtEnd = false;
    let run;
    try {
      run = await twoCycles('bwrap');
    } finally {
      sandboxDefences.scratchDroppedAtEnd = true;
    }
    const names = run.leftovers[0]!.map((f) => path.basename(f));
    expect(names).toEqual(expect.arrayContaining(['.npmrc', 'big.bin', 'blob']));
    expect(run.records[1]).toMatchObject({ outcome: 'ok' });
  });
});
