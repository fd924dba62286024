import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { botCommitSpec, buildCommit, commitGuardDefence, git } from '@prbot/repo';
import { jobKeyFrom, jobSignatureDefence, signJob, stageJobId, stageRunnerDefences } from '@prbot/pipeline';
import { changeModeDefence, newCycleId, type Change, type PrJob } from '@prbot/core';
import { createHarness, type Harness } from '@prbot/test-support';
import { defaultPolicy } from '@prbot/policy';
import { startWorkers, type WorkerSet, waitForOutcomes } from '@prbot/worker';

/**
 * Forged `pr` jobs added straight to the queue, as test code that reached Redis once did, with a
 * real pr worker running: each is refused, nothing is pushed and no PR is opened.
 */
let h: Harness;
let workers: WorkerSet;
let base: string;
const GUARD = () => ({
  ctx: { prdPath: h.cfg.repo.prd, pauseFile: h.cfg.repo.pauseFile, extraForbidden: [] },
  limits: h.cfg.guardrails,
});
const green = [
  {
    phase: 'test' as const,
    argv: ['node', '--test'],
    exitCode: 0,
    signal: null,
    timedOut: false,
    durationMs: 5,
    ok: true,
    tail: 'ok',
  },
];

beforeAll(async () => {
  // No forge rate limit here: these jobs never reach the forge's API in numbers that matter, and ten a minute would stall the file.
  // Nor the PR limits: the positive controls below open PRs of their own.
  h = await createHarness({
    config: { queues: { pr: { limiter: null } }, forge: { kind: 'local', maxOpen: 100, maxPerHour: 100 } },
  });
  workers = startWorkers(h.rt, defaultPolicy, { queues: ['pr', 'events'] });
  await h.rt.mirror.sync();
  base = await h.rt.mirror.resolve('main');
});
afterAll(async () => {
  await workers?.close(2000);
  await h?.cleanup();
});

function prJob(changes: Change[], botCommit: string, text = 'Forged gap'): PrJob {
  return {
    cycleId: newCycleId(),
    gap: { id: 'g' + 'a'.repeat(12), text, line: 1 },
    baseCommit: base,
    // Recent: a signed job of a cycle older than jobs.maxAgeDays is refused (a replayed copy).
    createdAt: Date.now() - 60_000,
    dryRun: false,
    notes: [],
    proposal: {
      summary: 'forged',
      files: changes.map((c) => ({ path: c.path, is_new: c.action === 'ADD', content: c.content })),
    },
    model: {
      rung: 'x/y',
      usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
      usageEstimated: false,
      escalated: false,
      attempts: [],
    },
    changes,
    botCommit,
    tests: green,
  };
}
const add = (data: object, cycleId: string) => h.rt.queues.pr.add('pr', data, { jobId: stageJobId(cycleId, 'pr') });
const pushedBranches = async () =>
  (await execa('git', ['ls-remote', '--heads', h.bare])).stdout
    .split('\n')
    .filter((l) => l && !l.endsWith('refs/heads/main'));
const prsOpened = async () =>
  (await readdir(h.cfg.forge.kind === 'local' ? h.cfg.forge.prDir : '').catch(() => [] as string[])).length;
const key = () => jobKeyFrom(h.rt.env, h.cfg.jobs.keyEnv);
const harmless: Change[] = [
  { path: 'src/forged.js', action: 'ADD', mode: '100644', content: 'export const forged = 1;\n' },
];
const workflow: Change[] = [
  { path: '.github/workflows/pwn.yml', action: 'ADD', mode: '100644', content: 'on: push\njobs: {}\n' },
];

describe('job data cannot be forged', () => {
  it('control: a pr job signed by a worker, with a harmless change, opens a draft PR', async () => {
    const job = prJob(harmless, '0'.repeat(40), 'Control gap');
    job.botCommit = await buildCommit(h.rt.mirror, botCommitSpec(job, harmless, h.cfg.bot, GUARD()));
    await add(signJob('pr', job, key()), job.cycleId);
    const [rec] = await waitForOutcomes(h.rt, [job.cycleId], 60_000);
    expect(rec).toMatchObject({ outcome: 'ok' });
    expect(await prsOpened()).toBe(1);
  });

  it('an unsigned pr job is refused: recorded with the reason, nothing pushed, no PR', async () => {
    const before = await pushedBranches();
    const job = prJob(harmless, '0'.repeat(40));
    job.botCommit = await buildCommit(h.rt.mirror, botCommitSpec(job, harmless, h.cfg.bot, GUARD()));
    await add(job, job.cycleId);
    const [rec] = await waitForOutcomes(h.rt, [job.cycleId], 60_000);
    expect(rec).toMatchObject({
      outcome: 'pr_failed',
      reason: expect.stringMatching(/^job signature invalid: the job is unsigned/),
    });
    expect(await pushedBranches()).toEqual(before);
    expect(await prsOpened()).toBe(1);
  });

  it('a signed pr job altered in Redis (a workflow file swapped in) is refused', async () => {
    const before = await pushedBranches();
    const job = prJob(harmless, '0'.repeat(40));
    job.botCommit = await buildCommit(h.rt.mirror, botCommitSpec(job, harmless, h.cfg.bot, GUARD()));
    const signed = signJob('pr', job, key());
    const altered = { ...signed, changes: [...signed.changes, ...workflow] };
    await add(altered, job.cycleId);
    const [rec] = await waitForOutcomes(h.rt, [job.cycleId], 60_000);
    expect(rec).toMatchObject({
      outcome: 'pr_failed',
      reason: expect.stringMatching(/^job signature invalid: the job data was altered/),
    });
    expect(await pushedBranches()).toEqual(before);
    expect(await prsOpened()).toBe(1);
  });

  it('a signed test job replayed as a pr job is refused (the queue is part of the MAC)', async () => {
    const job = prJob(harmless, '0'.repeat(40));
    job.botCommit = await buildCommit(h.rt.mirror, botCommitSpec(job, harmless, h.cfg.bot, GUARD()));
    await add(signJob('test', job, key()), job.cycleId);
    const [rec] = await waitForOutcomes(h.rt, [job.cycleId], 60_000);
    expect(rec).toMatchObject({ outcome: 'pr_failed', reason: expect.stringMatching(/job signature invalid/) });
  });
});

describe('guardrails run whenever a commit is built or rebuilt, signed or not', () => {
  it('a signed pr job whose change set adds .github/workflows/x.yml is refused on build', async () => {
    const before = await pushedBranches();
    const job = prJob(workflow, 'f'.repeat(40)); // not in the mirror: pr would build it
    await add(signJob('pr', job, key()), job.cycleId);
    const [rec] = await waitForOutcomes(h.rt, [job.cycleId], 60_000);
    expect(rec).toMatchObject({
      outcome: 'apply_failed',
      reason: expect.stringMatching(/guardrail: .*pwn\.yml.* CI definition/),
    });
    expect(await pushedBranches()).toEqual(before);
  });

  it('... and on rebuild, when that very commit is already in the mirror', async () => {
    const before = await pushedBranches();
    const prs = await prsOpened();
    const job = prJob(workflow, '');
    // Written into the mirror behind the guard's back (an older prbot, a bug, a hand).
    const input = `commit refs/prbot/evil\ncommitter x <x@x> 1700000000 +0000\ndata 2\nx\nfrom ${base}\nM 100644 inline .github/workflows/pwn.yml\ndata 9\non: push\n\n`;
    await git(['fast-import', '--quiet', '--force'], { cwd: h.rt.mirror.dir, input });
    job.botCommit = (await git(['rev-parse', 'refs/prbot/evil'], { cwd: h.rt.mirror.dir })).stdout.trim();
    expect(await h.rt.mirror.hasCommit(job.botCommit)).toBe(true);
    await add(signJob('pr', job, key()), job.cycleId);
    const [rec] = await waitForOutcomes(h.rt, [job.cycleId], 60_000);
    expect(rec).toMatchObject({ outcome: 'apply_failed', reason: expect.stringMatching(/guardrail/) });
    // A harmless payload naming that commit is refused too.
    const sneaky = prJob(harmless, job.botCommit);
    await add(signJob('pr', sneaky, key()), sneaky.cycleId);
    const [rec2] = await waitForOutcomes(h.rt, [sneaky.cycleId], 60_000);
    expect(rec2).toMatchObject({
      outcome: 'apply_failed',
      reason: expect.stringMatching(/not the payload's change set/),
    });
    expect(await pushedBranches()).toEqual(before);
    expect(existsSync(path.join(h.dir, 'prs'))).toBe(true);
    expect(await prsOpened()).toBe(prs);
  });
});

describe('signed jobs replayed, squatted or aged', () => {
  it('a signed pr job of a cycle older than jobs.maxAgeDays (a copy replayed after its record expired) is refused', async () => {
    const before = await pushedBranches();
    const prs = await prsOpened();
    const job = { ...prJob(harmless, '0'.repeat(40), 'Old gap'), createdAt: Date.now() - 31 * 86_400_000 };
    job.botCommit = await buildCommit(h.rt.mirror, botCommitSpec(job, harmless, h.cfg.bot, GUARD()));
    await add(signJob('pr', job, key()), job.cycleId);
    const [rec] = await waitForOutcomes(h.rt, [job.cycleId], 60_000);
    expect(rec).toMatchObject({
      outcome: 'pr_failed',
      reason: expect.stringMatching(/^job signature expired: the cycle started 31 days ago and jobs\.maxAgeDays is 30/),
    });
    expect(await pushedBranches()).toEqual(before);
    expect(await prsOpened()).toBe(prs);
  });

  it('positive control: with jobs.maxAgeDays at its largest (60), the same 31-day-old signed pr job opens a PR', async () => {
    const prs = await prsOpened();
    const job = {
      ...prJob(harmless, '0'.repeat(40), 'Old gap, age check widened'),
      createdAt: Date.now() - 31 * 86_400_000,
    };
    job.botCommit = await buildCommit(h.rt.mirror, botCommitSpec(job, harmless, h.cfg.bot, GUARD()));
    // A config value, set on this worker's runtime only for this job.
    const saved = h.rt.cfg.jobs.maxAgeDays;
    h.rt.cfg.jobs.maxAgeDays = 60;
    try {
      await add(signJob('pr', job, key()), job.cycleId);
      const [rec] = await waitForOutcomes(h.rt, [job.cycleId], 60_000);
      expect(rec, rec!.reason).toMatchObject({ outcome: 'ok' });
    } finally {
      h.rt.cfg.jobs.maxAgeDays = saved;
    }
    expect(await prsOpened()).toBe(prs + 1);
  });

  it('a signed pr job replayed under a new job id after its cycle ended does nothing: the first outcome stands', async () => {
    const job = prJob(harmless, '0'.repeat(40), 'Replayed gap');
    job.botCommit = await buildCommit(h.rt.mirror, botCommitSpec(job, harmless, h.cfg.bot, GUARD()));
    const signed = signJob('pr', job, key());
    await add(signed, job.cycleId);
    const [first] = await waitForOutcomes(h.rt, [job.cycleId], 60_000);
    expect(first).toMatchObject({ outcome: 'ok' });
    const prs = await prsOpened();
    const before = await pushedBranches();
    const replay = await h.rt.queues.pr.add('pr', signed, { jobId: `${job.cycleId}-replay` });
    await expect.poll(async () => (await replay.getState()) === 'completed', { timeout: 30_000 }).toBe(true);
    expect((await h.rt.queues.pr.getJob(replay.id!))?.returnvalue).toMatchObject({
      skipped: 'cycle ended',
      outcome: 'ok',
    });
    expect(await prsOpened()).toBe(prs);
    expect(await pushedBranches()).toEqual(before);
  });

  it('positive control: with the ledger check switched off (in this process only), a replay of an ended cycle pushes its branch again after a person deleted it', async () => {
    const job = prJob(harmless, '0'.repeat(40), 'Replayed gap, ledger off');
    job.botCommit = await buildCommit(h.rt.mirror, botCommitSpec(job, harmless, h.cfg.bot, GUARD()));
    const signed = signJob('pr', job, key());
    await add(signed, job.cycleId);
    const [first] = await waitForOutcomes(h.rt, [job.cycleId], 60_000);
    expect(first).toMatchObject({ outcome: 'ok' });
    // A person removed the PR (the local forge's PR is its file) and deleted its branch; then the
    // signed job is replayed.
    await rm(fileURLToPath(first!.pr_url!));
    await execa('git', ['update-ref', '-d', `refs/heads/${first!.branch}`], { cwd: h.bare });
    const before = await pushedBranches();
    const prs = await prsOpened();
    let seen = '';
    stageRunnerDefences.endedCycleDoesNothing = false;
    try {
      const replay = await h.rt.queues.pr.add('pr', signed, { jobId: `${job.cycleId}-replay` });
      await expect.poll(async () => await replay.getState(), { timeout: 30_000 }).toMatch(/completed|failed/);
      const done = await h.rt.queues.pr.getJob(replay.id!);
      seen = JSON.stringify({ returned: done?.returnvalue, failed: done?.failedReason });
    } finally {
      stageRunnerDefences.endedCycleDoesNothing = true;
    }
    const after = await pushedBranches();
    expect(after.length, seen).toBe(before.length + 1);
    expect(after.some((l) => l.endsWith(`refs/heads/${first!.branch}`))).toBe(true);
    expect(await prsOpened()).toBe(prs + 1);
  });

  it("an unsigned job squatting a cycle's next-stage job id first: the signed hand-over is dropped, the cycle ends once, refused, nothing pushed", async () => {
    const before = await pushedBranches();
    const prs = await prsOpened();
    const job = prJob(harmless, '0'.repeat(40), 'Squatted gap');
    job.botCommit = await buildCommit(h.rt.mirror, botCommitSpec(job, harmless, h.cfg.bot, GUARD()));
    // The squatter is added first; the real hand-over comes with the same job id, so BullMQ keeps the squatter.
    await add({ ...job, changes: workflow }, job.cycleId);
    await add(signJob('pr', job, key()), job.cycleId);
    const [rec] = await waitForOutcomes(h.rt, [job.cycleId], 60_000);
    expect(rec).toMatchObject({
      outcome: 'pr_failed',
      reason: expect.stringMatching(/^job signature invalid: the job is unsigned/),
    });
    expect(await pushedBranches()).toEqual(before);
    expect(await prsOpened()).toBe(prs);
  });
});

describe('positive control: the signature check is what stops a forged job', () => {
  it('with verification switched off (in this process only), the same unsigned pr job opens a PR', async () => {
    const before = await prsOpened();
    const job = prJob(harmless, '0'.repeat(40), 'Unsigned gap, verification off');
    job.botCommit = await buildCommit(h.rt.mirror, botCommitSpec(job, harmless, h.cfg.bot, GUARD()));
    jobSignatureDefence.verify = false;
    try {
      await add(job, job.cycleId);
      const [rec] = await waitForOutcomes(h.rt, [job.cycleId], 60_000);
      expect(rec).toMatchObject({ outcome: 'ok' });
    } finally {
      jobSignatureDefence.verify = true;
    }
    expect(await prsOpened()).toBe(before + 1);
  });
});

describe('positive control: the build-time guardrails are what keep a workflow file out', () => {
  it('with the check switched off (in this process only), the signed workflow job pushes .github/workflows/pwn.yml', async () => {
    const before = await pushedBranches();
    const job = prJob(workflow, 'f'.repeat(40));
    commitGuardDefence.check = false;
    try {
      // The id a signer computes for that change set (the pr stage rebuilds and compares it).
      job.botCommit = await buildCommit(h.rt.mirror, botCommitSpec(job, workflow, h.cfg.bot, GUARD()));
      await add(signJob('pr', job, key()), job.cycleId);
      const [rec] = await waitForOutcomes(h.rt, [job.cycleId], 60_000);
      expect(rec, rec!.reason).toMatchObject({ outcome: 'ok' });
    } finally {
      commitGuardDefence.check = true;
    }
    const after = await pushedBranches();
    expect(after.length).toBe(before.length + 1);
    const branch = after.find((l) => !before.includes(l))!.split('refs/heads/')[1]!;
    expect((await git(['ls-tree', '-r', '--name-only', branch], { cwd: h.bare })).stdout).toContain(
      '.github/workflows/pwn.yml',
    );
  });
});

/**
 * The positive control of the reliability row "hostile model output" (hostile-output.test.ts),
 * for its traversal paths: prbot's path checks (pathRefusal, at propose and again wherever a
 * commit is built) are what keep `../x` out of a bot commit. git's fast-import takes such a path
 * into a tree; only a checkout refuses it ("invalid path"), which is why no file lands outside a
 * work tree even then.
 */
describe('positive control: the path checks are what keep a traversal path out of a pushed commit', () => {
  it('with the build-time check off (in this process only), a signed job carrying ../<name> pushes a tree holding it; nothing is written outside the work tree', async () => {
    const escape = `prbot-escape-ctl-${Date.now().toString(36)}`;
    const traversal: Change[] = [{ path: `../${escape}`, action: 'ADD', mode: '100644', content: 'x\n' }];
    const on = prJob(traversal, 'f'.repeat(40));
    // On: the commit is never built.
    await expect(buildCommit(h.rt.mirror, botCommitSpec(on, traversal, h.cfg.bot, GUARD()))).rejects.toThrow(
      /guardrail: .*climbs out/,
    );
    const before = await pushedBranches();
    const job = prJob(traversal, 'f'.repeat(40));
    commitGuardDefence.check = false;
    try {
      job.botCommit = await buildCommit(h.rt.mirror, botCommitSpec(job, traversal, h.cfg.bot, GUARD()));
      await add(signJob('pr', job, key()), job.cycleId);
      const [rec] = await waitForOutcomes(h.rt, [job.cycleId], 60_000);
      console.log(`path check off: ${rec!.outcome}: ${rec!.reason.slice(0, 100)}`);
    } finally {
      commitGuardDefence.check = true;
    }
    const after = await pushedBranches();
    const branch = after.find((l) => !before.includes(l))?.split('refs/heads/')[1];
    const tree = branch ? (await git(['ls-tree', '-r', '--name-only', branch], { cwd: h.bare })).stdout : '';
    const outside = await execa('find', ['/tmp', h.dir, '-name', `*${escape}*`], { reject: false });
    console.log(
      `pushed branch ${branch}; its tree: ${tree
        .split('\n')
        .filter((l) => l.includes(escape))
        .join(', ')}`,
    );
    // The control: the traversal path reached a pushed commit (a tree no checkout accepts).
    expect(tree.split('\n')).toContain(`../${escape}`);
    expect(outside.stdout.trim()).toBe('');
  });
});

/**
 * `changes[].mode` steers what kind of tree entry the bot commit gets. The payload's schema takes
 * only 100644 and 100755, so a signed job (a signer that was fooled, or a key that leaked) cannot
 * make prbot push a symbolic link, e.g. one a later checkout or CI step follows to /etc/passwd.
 */
describe('positive control: the two-mode rule is what keeps a symbolic link out of a pushed commit', () => {
  // A signer computes botCommit from the change set; buildCommit takes the mode as given.
  const link = (): Change[] => [
    { path: 'src/passwd', action: 'ADD', mode: '120000' as Change['mode'], content: '/etc/passwd' },
  ];
  const signedLinkJob = async (text: string) => {
    const job = prJob(link(), 'f'.repeat(40), text);
    job.botCommit = await buildCommit(h.rt.mirror, botCommitSpec(job, link(), h.cfg.bot, GUARD()));
    return job;
  };

  it('on: a signed pr job whose change has mode 120000 is refused by its schema, naming the mode; nothing pushed', async () => {
    const before = await pushedBranches();
    const prs = await prsOpened();
    const job = await signedLinkJob('Symlink gap, two modes on');
    const added = await add(signJob('pr', job, key()), job.cycleId);
    await expect.poll(async () => await added.getState(), { timeout: 30_000 }).toBe('failed');
    const failed = await h.rt.queues.pr.getJob(added.id!);
    expect(failed?.failedReason).toMatch(
      /^payload of pr job .* is invalid: changes\.0\.mode: mode must be 100644 or 100755 \(a regular file: no symbolic link, no submodule\)/,
    );
    expect(await pushedBranches()).toEqual(before);
    expect(await prsOpened()).toBe(prs);
  });

  it('with the rule switched off (in this process only), the same signed job pushes a commit whose tree holds src/passwd as a symbolic link to /etc/passwd', async () => {
    const before = await pushedBranches();
    const job = await signedLinkJob('Symlink gap, two modes off');
    changeModeDefence.twoModes = false;
    try {
      await add(signJob('pr', job, key()), job.cycleId);
      const [rec] = await waitForOutcomes(h.rt, [job.cycleId], 60_000);
      expect(rec, rec!.reason).toMatchObject({ outcome: 'ok' });
    } finally {
      changeModeDefence.twoModes = true;
    }
    const after = await pushedBranches();
    expect(after.length).toBe(before.length + 1);
    const branch = after.find((l) => !before.includes(l))!.split('refs/heads/')[1]!;
    // The pushed branch's tree, read from the remote itself: a 120000 entry whose blob is the link target.
    const entry = (await git(['ls-tree', branch, 'src/passwd'], { cwd: h.bare })).stdout.trim();
    expect(entry).toMatch(/^120000 blob [0-9a-f]{40}\tsrc\/passwd$/);
    const blob = entry.split(/\s+/)[2]!;
    expect((await git(['cat-file', 'blob', blob], { cwd: h.bare })).stdout).toBe('/etc/passwd');
    expect((await git(['rev-parse', `refs/heads/${branch}`], { cwd: h.bare })).stdout.trim()).toBe(job.botCommit);
  });
});
