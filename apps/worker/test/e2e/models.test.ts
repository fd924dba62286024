import { existsSync, readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { CassetteRecorder, loadCassette } from '@prbot/model';
import { QUEUE_NAMES } from '@prbot/pipeline';
import {
  createHarness,
  REPO_ROOT,
  startModelServer,
  type Harness,
  type ModelServer,
  repoWithGaps,
} from '@prbot/test-support';
import { defaultPolicy } from '@prbot/policy';
import { produce } from '@prbot/control';
import { startWorkers } from '../../src/workers.ts';
import { cassetteScript, openaiModels, runAll, waitForOutcomes } from '../helpers.ts';

const KEY = 'sk-models-e2e-secret-9f8e7d6c5b4a';
let h: Harness | undefined;
let server: ModelServer | undefined;
afterEach(async () => {
  await h?.cleanup();
  await server?.close();
  h = server = undefined;
});

const TSX = path.join(REPO_ROOT, 'node_modules', '.bin', 'tsx');
const cli = (args: string[], env: Record<string, string> = {}) =>
  execa(TSX, [path.join(REPO_ROOT, 'apps', 'producer', 'src', 'cli.ts'), ...args], {
    env: { PATH: process.env.PATH!, PRBOT_JOB_KEY: process.env.PRBOT_JOB_KEY!, ...env },
    extendEnv: false,
    reject: false,
  });

describe('model routing end to end', () => {
  it('429 with Retry-After pauses the whole propose queue for that long; no job reaches the server meanwhile', async () => {
    const answers = await cassetteScript();
    server = await startModelServer((req, n) =>
      n === 0 ? { status: 429, headers: { 'retry-after': '2' } } : answers(req),
    );
    const repo = await repoWithGaps([
      'Add a `truncate(text, max)` helper',
      'Add a `reverse(text)` helper',
      'Add a `words(text)` helper',
    ]);
    // One job at a time: when the 429 comes back, the two other jobs are still waiting in the
    // queue. Only a queue-wide pause keeps them from the server; delaying the one job that met
    // the 429 (or retrying it with backoff) would let them through at once.
    h = await createHarness({
      repo,
      config: { models: openaiModels(server), queues: { propose: { concurrency: 1 } } },
      env: { PRBOT_TEST_KEY: KEY },
    });
    const run = await runAll(h.rt, { timeoutMs: 30_000 });
    expect(run.records).toHaveLength(3);
    const [first, ...rest] = server.requests;
    const limitedAt = first!.answeredAt!;
    expect(rest).toHaveLength(3); // the two waiting jobs and the one that met the 429
    // Every later request waited out the Retry-After window (BullMQ's limiter: less a few ms).
    for (const r of rest) expect(r.at - limitedAt).toBeGreaterThanOrEqual(1800);
    // The 429 did not cost the job an attempt, nor a budget call.
    expect(run.records.every((r) => r.outcome !== 'model_failed')).toBe(true);
    expect((await h.rt.budget.today()).calls.used).toBe(3);
  });

  it.each(['0', '0.0004'])(
    '429 with Retry-After %s (a provider asking for no wait) waits a moment and costs no attempt',
    async (header) => {
      const answers = await cassetteScript();
      server = await startModelServer((req, n) =>
        n === 0 ? { status: 429, headers: { 'retry-after': header } } : answers(req),
      );
      const repo = await repoWithGaps(['Add a `truncate(text, max)` helper']);
      h = await createHarness({
        repo,
        config: { models: openaiModels(server), queues: { propose: { concurrency: 1 } } },
        env: { PRBOT_TEST_KEY: KEY },
      });
      const run = await runAll(h.rt, { timeoutMs: 30_000 });
      // Before the floor: BullMQ's rateLimit(0) → Redis "invalid expire time", a spent attempt and
      // a cycle ended on a Redis error that was the provider's doing.
      expect(run.records.map((r) => [r.outcome, r.reason])).toEqual([['ok', expect.any(String)]]);
      expect(server.requests).toHaveLength(2);
      // No attempt failed: the rate limit put the job back (BullMQ counts that start as made, 1).
      const [job] = await h.rt.queues.propose.getJobs(['completed']);
      expect(job?.stacktrace ?? []).toEqual([]);
      expect(job?.attemptsMade).toBe(1);
    },
  );

  it('escalates after two tests_failed on the gap; the record and PR body say so', async () => {
    const answers = await cassetteScript();
    const fixed = JSON.stringify({
      summary: 'Adds reverse() reversing characters.',
      files: [
        {
          path: 'src/reverse.js',
          is_new: true,
          content: 'export function reverse(text) {\n  return [...text].reverse().join("");\n}\n',
        },
        {
          path: 'test/reverse.test.js',
          is_new: true,
          content:
            "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\nimport { reverse } from '../src/reverse.js';\ntest('reverse', () => assert.equal(reverse('abc'), 'cba'));\n",
        },
      ],
    });
    server = await startModelServer((req) => (req.body.model === 'strong' ? { content: fixed } : answers(req)));
    const repo = await repoWithGaps(['Add a `reverse(text)` helper']);
    const models = {
      providers: { loop: { kind: 'openai' as const, baseUrl: server.baseUrl } },
      propose: ['loop/weak'],
      escalation: ['loop/strong'],
      escalateAfter: 2,
    };
    h = await createHarness({ repo, config: { models } });
    const outcomes = [];
    for (let i = 0; i < 3; i++) outcomes.push((await runAll(h.rt)).records[0]!);
    expect(outcomes.map((r) => [r.outcome, r.model?.rung, r.model?.escalated])).toEqual([
      ['tests_failed', 'loop/weak', false],
      ['tests_failed', 'loop/weak', false],
      ['ok', 'loop/strong', true],
    ]);
    expect(server.requests.map((r) => r.body.model)).toEqual(['weak', 'weak', 'strong']);
    const pr = JSON.parse(await readFile(new URL(outcomes[2]!.pr_url!), 'utf8'));
    expect(pr.body).toContain('rung loop/strong (escalated after repeated tests_failed)');
  });

  it('the API key appears in no log line, record or job payload', async () => {
    server = await startModelServer(await cassetteScript());
    const logs: string[] = [];
    const sink = new PassThrough();
    sink.on('data', (c) => logs.push(String(c)));
    h = await createHarness({ config: { models: openaiModels(server) }, env: { PRBOT_TEST_KEY: KEY }, logTo: sink });
    const run = await runAll(h.rt);
    expect(run.records).toHaveLength(5);
    expect(server.requests.every((r) => r.headers.authorization === `Bearer ${KEY}`)).toBe(true);
    const files = await readdir(h.cfg.records.dir);
    const haystack = [
      logs.join(''),
      ...(await Promise.all(files.map((f) => readFile(path.join(h!.cfg.records.dir, f), 'utf8')))),
      ...(await Promise.all(
        QUEUE_NAMES.map(async (q) =>
          JSON.stringify(
            await Promise.all(
              (await h!.rt.queues[q].getJobs()).map(async (j) => [
                j.data,
                j.returnvalue,
                j.failedReason,
                await h!.rt.queues[q].getJobLogs(j.id!),
              ]),
            ),
          ),
        ),
      )),
    ].join('\n');
    expect(logs.join('')).toContain('cycle ended'); // logs were captured at all
    expect(haystack).not.toContain(KEY);
  });

  it('record mode writes real answers into a cassette that the replay provider plays back', async () => {
    server = await startModelServer(await cassetteScript());
    const repo = await repoWithGaps(['Add a `truncate(text, max)` helper', 'Add a `reverse(text)` helper']);
    h = await createHarness({ repo, config: { models: openaiModels(server) }, env: { PRBOT_TEST_KEY: 'k' } });
    const cassette = path.join(h.dir, 'recorded.json');
    const workers = startWorkers(h.rt, defaultPolicy, {
      queues: [...QUEUE_NAMES],
      recorder: new CassetteRecorder(cassette),
    });
    const live = await runAll(h.rt, { workers });
    await workers.close(2000);
    expect(existsSync(cassette)).toBe(true);
    const recorded = loadCassette(cassette);
    expect(recorded.entries.map((e) => e.gap).sort()).toEqual(live.records.map((r) => r.gap_id).sort());
    expect(readFileSync(cassette, 'utf8')).not.toContain('PRBOT_TEST_KEY');

    const replayRepo = await repoWithGaps(['Add a `truncate(text, max)` helper', 'Add a `reverse(text)` helper']);
    const h2 = await createHarness({
      repo: replayRepo,
      config: { models: { providers: { tape: { kind: 'replay', cassette } }, propose: ['tape/recorded'] } },
    });
    try {
      const replayed = await runAll(h2.rt);
      const byGap = (rs: typeof live.records) => Object.fromEntries(rs.map((r) => [r.gap_id, r.outcome]));
      expect(byGap(replayed.records)).toEqual(byGap(live.records));
      expect(server.requests).toHaveLength(2); // the replay sent nothing to the server
    } finally {
      await h2.cleanup();
    }
  });
});

describe('pnpm probe', () => {
  it('ad hoc: one row per model, ok or the error, as JSON, with no config file', async () => {
    server = await startModelServer((req) => (req.body.model === 'gone' ? { status: 404 } : { content: 'pong' }));
    const r = await cli(
      ['probe', '--base-url', server.baseUrl, '--model', 'm', '--model', 'gone', '--key-env', 'PROBE_KEY', '--json'],
      { PROBE_KEY: KEY },
    );
    const out = JSON.parse(r.stdout);
    expect(out.rows).toEqual([
      expect.objectContaining({ model: 'm', ok: true, answer: 'pong', error: null }),
      expect.objectContaining({ model: 'gone', ok: false, error: 'HTTP 404: scripted 404' }),
    ]);
    expect(r.exitCode).toBe(1);
    expect(server.requests[0]!.body.messages[0]!.content).toBe('Reply with the single word pong');
    expect(server.requests[0]!.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(r.stdout + r.stderr).not.toContain(KEY);
  });

  it('from config: every rung of the ladders, counted against the budget, disabled ones skipped', async () => {
    server = await startModelServer(() => ({ content: 'pong' }));
    const models = {
      providers: { loop: { kind: 'openai' as const, baseUrl: server.baseUrl } },
      propose: ['loop/a', 'loop/b'],
      escalation: ['loop/c'],
      disabled: { 'loop/b': 'broken upstream' },
    };
    h = await createHarness({ config: { models } });
    const r = await cli(['probe', '--json'], { PRBOT_CONFIG: h.configFile });
    expect(r.exitCode).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.rows.map((x: { model: string; ok: boolean }) => [x.model, x.ok])).toEqual([
      ['a', true],
      ['c', true],
    ]);
    expect(out.budget).toMatch(/probes count against today's budget: 18\/20 calls left/);
    expect((await h.rt.budget.today()).calls.used).toBe(2);
  });
});

void produce;
void waitForOutcomes;
