import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { gapHistory, QUEUE_NAMES, stageJobId } from '@prbot/pipeline';
import { git } from '@prbot/repo';
import { utcDay, type CycleRecord } from '@prbot/core';
import {
  commitAll,
  createHarness,
  startModelServer,
  type Harness,
  type ModelServer,
  repoWithGaps,
} from '@prbot/test-support';
import { defaultPolicy } from '@prbot/policy';
import { produce } from '@prbot/control';
import { startWorkers } from '../../src/workers.ts';
import { cassetteScript, openaiModels, runAll } from '../helpers.ts';

const SECRET = 'sk-prbot-test-0123456789abcdefSECRET';
let h: Harness | undefined;
let server: ModelServer | undefined;

afterEach(async () => {
  await h?.cleanup();
  await server?.close();
  h = undefined;
  server = undefined;
});

describe('end to end, one test per outcome', () => {
  it('ok, tests_failed, cycle_noop, proposal_rejected and apply_failed, through a loopback model server', async () => {
    server = await startModelServer(await cassetteScript());
    h = await createHarness({ config: { models: openaiModels(server) }, env: { PRBOT_TEST_KEY: SECRET } });
    const run = await runAll(h.rt);

    const ok = run.byGap('truncate');
    expect(ok.outcome).toBe('ok');
    expect(ok.pr_url).toMatch(/^file:\/\/.*\.json$/);
    expect(ok.files).toEqual([
      { path: 'src/truncate.js', action: 'ADD' },
      { path: 'test/truncate.test.js', action: 'ADD' },
    ]);
    expect(ok.tests[0]).toMatchObject({ argv: ['node', '--test'], ok: true, exitCode: 0 });
    const pr = JSON.parse(await readFile(new URL(ok.pr_url!), 'utf8'));
    expect(pr).toMatchObject({ draft: true, state: 'open', base: 'main', head: ok.branch });
    expect(pr.title).toMatch(/^WIP: Add a `truncate/);
    expect(pr.body).toContain(`<!-- prbot: cycle=${ok.cycle_id} gap=${ok.gap_id} mac=`);
    const pushed = await git(['rev-parse', `refs/heads/${ok.branch}`], { cwd: h.bare });
    expect(pushed.stdout.trim()).toBe(ok.bot_commit);

    // A job opened in Bull Board tells its story: steps and the command's own output.
    const logs = (await h.rt.queues.test.getJobLogs(stageJobId(ok.cycle_id, 'test'))).logs;
    expect(logs).toContain('$ node --test');
    expect(logs.some((l) => /truncate cuts long text/.test(l))).toBe(true);
    expect((await h.rt.queues.test.getJob(stageJobId(ok.cycle_id, 'test')))!.progress).toBe(100);

    const red = run.byGap('reverse');
    expect(red.outcome).toBe('tests_failed');
    expect(red.reason).toMatch(/node --test.*exit code 1/);
    expect(red.tests[0]!.tail).toMatch(/reverse reverses characters/);

    expect(run.byGap('capitalize').outcome).toBe('cycle_noop');
    expect(run.byGap('CI workflow')).toMatchObject({
      outcome: 'proposal_rejected',
      reason: 'path ".github/workflows/ci.yml" is a CI definition',
    });
    expect(run.byGap('words')).toMatchObject({
      outcome: 'apply_failed',
      reason: expect.stringMatching(/^src\/strings\.js: proposed as new/),
    });

    // Exactly one record per cycle, in every place a record goes.
    const files = await readdir(h.cfg.records.dir);
    expect(files.sort()).toEqual(run.records.map((r) => `${r.cycle_id}.json`).sort());
    const events = await h.rt.queues.events.getJobs(['completed', 'waiting', 'active', 'delayed']);
    expect(events.map((e) => e.id).sort()).toEqual(run.records.map((r) => stageJobId(r.cycle_id, 'events')).sort());
    const stats = await h.rt.redis.hgetall(h.rt.keys.stats(utcDay(Date.now())));
    expect(stats).toEqual({ ok: '1', tests_failed: '1', cycle_noop: '1', proposal_rejected: '1', apply_failed: '1' });
    for (const r of run.records) expect(await h.rt.redis.exists(h.rt.keys.inflight(r.gap_id!))).toBe(0);

    // The key went to the model server in the Authorization header, and nowhere else.
    expect(server.requests.every((r) => r.headers.authorization === `Bearer ${SECRET}`)).toBe(true);
    const everything = [
      ...(await Promise.all(files.map((f) => readFile(path.join(h!.cfg.records.dir, f), 'utf8')))),
      ...(await Promise.all(
        QUEUE_NAMES.map(async (q) =>
          JSON.stringify((await h!.rt.queues[q].getJobs()).map((j) => [j.data, j.returnvalue, j.failedReason])),
        ),
      )),
      JSON.stringify(await h.rt.redis.lrange(h.rt.keys.recent(), 0, -1)),
      pr.body,
    ].join('\n');
    expect(everything).not.toContain(SECRET);
    expect(everything).toContain(ok.cycle_id); // the scan did read the records
  });

  it('model_failed with the parse error when no rung answers usable JSON; a 500 falls to the next rung', async () => {
    server = await startModelServer((req) =>
      req.body.model === 'broken' ? { status: 500 } : { content: 'Sorry, I cannot help with that.' },
    );
    const repo = await repoWithGaps(['Add a helper']);
    const models = {
      providers: { loop: { kind: 'openai' as const, baseUrl: server.baseUrl } },
      propose: ['loop/broken', 'loop/chatty'],
    };
    h = await createHarness({ repo, config: { models } });
    const run = await runAll(h.rt);
    const r = run.byGap('helper');
    expect(r.outcome).toBe('model_failed');
    expect(r.reason).toContain('loop/broken: HTTP 500');
    expect(r.reason).toContain('loop/chatty: answer is not JSON');
    expect(server.requests.map((q) => q.body.model)).toEqual(['broken', 'chatty']);
  });

  it('skipped_cost once the day budget is spent, and only the granted calls reach the model', async () => {
    server = await startModelServer(await cassetteScript());
    const repo = await repoWithGaps([
      'Add a `truncate(text, max)` helper',
      'Add a `reverse(text)` helper',
      'Add a `words(text)` helper',
    ]);
    h = await createHarness({
      repo,
      config: { models: openaiModels(server), budget: { callsPerDay: 1 } },
      env: { PRBOT_TEST_KEY: 'k' },
    });
    const run = await runAll(h.rt);
    const outcomes = run.records.map((r) => r.outcome);
    expect(outcomes.filter((o) => o === 'skipped_cost')).toHaveLength(2);
    expect(run.records.find((r) => r.outcome === 'skipped_cost')!.reason).toMatch(
      /daily call budget spent \(1\/1 calls\)/,
    );
    expect(server.requests).toHaveLength(1);
  });

  it('with onExhausted: defer, a refused cycle waits for the next UTC midnight instead of ending', async () => {
    server = await startModelServer(await cassetteScript());
    const repo = await repoWithGaps(['Add a `truncate(text, max)` helper', 'Add a `reverse(text)` helper']);
    h = await createHarness({
      repo,
      config: { models: openaiModels(server), budget: { callsPerDay: 1, onExhausted: 'defer' } },
      env: { PRBOT_TEST_KEY: 'k' },
    });
    const workers = startWorkers(h.rt, defaultPolicy, { queues: [...QUEUE_NAMES] });
    try {
      const report = await produce(h.rt, defaultPolicy);
      const ids = report.lines.map((l) => l.cycleId!);
      const deadline = Date.now() + 20_000;
      let delayed: Awaited<ReturnType<typeof h.rt.queues.propose.getDelayed>> = [];
      while (Date.now() < deadline) {
        delayed = await h.rt.queues.propose.getDelayed();
        if (delayed.length === 1) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(delayed).toHaveLength(1);
      const job = delayed[0]!;
      const midnight = new Date();
      midnight.setUTCHours(24, 0, 0, 0);
      // BullMQ derives the stored delay from its own clock at the move: equal to within a second.
      expect(Math.abs(job.timestamp + job.delay - midnight.getTime())).toBeLessThan(1000);
      const deferredCycle = (job.data as { cycleId: string }).cycleId;
      expect(ids).toContain(deferredCycle);
      expect(await h.rt.redis.get(h.rt.keys.outcome(deferredCycle))).toBeNull();
      expect(await h.rt.redis.get(h.rt.keys.inflight((job.data as { gap: { id: string } }).gap.id))).toBe(
        deferredCycle,
      );
    } finally {
      await workers.close(2000);
    }
  });

  it('history goes into the next prompt; produce leaves the gap out after too many failures', async () => {
    server = await startModelServer(await cassetteScript());
    const repo = await repoWithGaps(['Add a `reverse(text)` helper']);
    h = await createHarness({
      repo,
      config: { models: openaiModels(server), policy: { maxConsecutiveFailures: 2 } },
      env: { PRBOT_TEST_KEY: 'k' },
    });
    expect((await runAll(h.rt)).records[0]!.outcome).toBe('tests_failed');
    expect(server.requests[0]!.body.messages[1]!.content).toContain('Prior attempts on this gap: none.');
    expect((await runAll(h.rt)).records[0]!.outcome).toBe('tests_failed');
    const second = server.requests[1]!.body.messages[1]!.content;
    expect(second).toMatch(
      /Prior attempts on this gap \(newest first\):\n1\. .* tests_failed: test command `node --test` failed/,
    );
    expect(second).toContain('ADD src/reverse.js');
    // produce leaves the hopeless gap out and says why (no cycle, no model call).
    const third = await runAll(h.rt);
    expect(third.records).toEqual([]);
    expect(third.report.lines).toMatchObject([
      {
        action: 'too_many_failures',
        why: expect.stringMatching(/too many failures: 2 non-ok outcomes since the last success/),
      },
    ]);
    expect(server.requests).toHaveLength(2);
    expect((await h.rt.budget.today()).calls.used).toBe(2);
    expect((await gapHistory(h.rt.redis, h.rt.keys, third.report.lines[0]!.gap.id, 5)).map((x) => x.outcome)).toEqual([
      'tests_failed',
      'tests_failed',
    ]);
  });

  it('skipped_pause when bot.paused is on the base branch; nothing is enqueued', async () => {
    h = await createHarness();
    await writeFile(path.join(h.checkout, 'bot.paused'), 'maintenance\n');
    await commitAll(h.checkout, 'pause the bot', true);
    const report = await produce(h.rt, defaultPolicy);
    expect(report).toMatchObject({ outcome: 'skipped_pause', lines: [] });
    expect(await h.rt.queues.propose.count()).toBe(0);
    const recent = await h.rt.redis.lrange(h.rt.keys.recent(), 0, -1);
    expect(recent).toHaveLength(1);
    const rec = JSON.parse(await readFile(path.join(h.cfg.records.dir, `${recent[0]}.json`), 'utf8')) as CycleRecord;
    expect(rec).toMatchObject({ outcome: 'skipped_pause', stage: 'produce', gap_id: null });
  });

  it('skipped_no_gap when the PRD has no unchecked tagged line', async () => {
    const repo = await repoWithGaps([]);
    h = await createHarness({ repo });
    const report = await produce(h.rt, defaultPolicy);
    expect(report).toMatchObject({
      outcome: 'skipped_no_gap',
      reason: 'no unchecked [bot-eligible] lines in docs/PRD.md',
    });
  });

  it('pr_skipped_by_policy when shouldOpenPR says no; nothing is pushed', async () => {
    const repo = await repoWithGaps(['Add a `truncate(text, max)` helper']);
    h = await createHarness({ repo });
    const policy = { ...defaultPolicy, shouldOpenPR: () => ({ ok: false, reason: 'weekend freeze' }) };
    const r = (await runAll(h.rt, { policy })).records[0]!;
    expect(r).toMatchObject({ outcome: 'pr_skipped_by_policy', reason: 'weekend freeze' });
    const branches = await git(['branch', '--list', 'bot/*'], { cwd: h.bare });
    expect(branches.stdout.trim()).toBe('');
  });

  it('pr_failed after the pr queue exhausts its retries on an unreachable remote', async () => {
    const repo = await repoWithGaps(['Add a `truncate(text, max)` helper']);
    h = await createHarness({
      repo,
      config: { forge: { kind: 'local', remote: '/nonexistent/remote.git' }, queues: { pr: { attempts: 2 } } },
    });
    const r = (await runAll(h.rt)).records[0]!;
    expect(r.outcome).toBe('pr_failed');
    expect(r.reason).toMatch(/pr gave up after its retries: pushing bot\/.* failed/);
    const failed = await h.rt.queues.pr.getFailed();
    expect(failed).toHaveLength(1);
    expect(failed[0]!.attemptsMade).toBe(2);
  });

  it('a dry run goes through propose, apply and test but never pushes', async () => {
    const repo = await repoWithGaps(['Add a `truncate(text, max)` helper']);
    h = await createHarness({ repo, config: { dryRun: true } });
    const r = (await runAll(h.rt)).records[0]!;
    expect(r).toMatchObject({
      outcome: 'ok',
      dry_run: true,
      pr_url: null,
      reason: expect.stringMatching(/^dry run: would push bot\/.* and open the draft PR "WIP: Add a `truncate/),
    });
    expect(r.tests[0]!.ok).toBe(true);
    expect((await git(['branch', '--list', 'bot/*'], { cwd: h.bare })).stdout.trim()).toBe('');
  });
});
