import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRuntime, waitReady } from '@prbot/pipeline';
import { createHarness, REPO_ROOT, startRedisServer, type Harness } from '@prbot/test-support';
import { assertSafeBind } from '../src/security.ts';
import { createDashboard, redactJobData } from '../src/server.ts';
import { GAP_B, seed } from './seed.ts';

let h: Harness;
const servers: Server[] = [];

async function serve(o: Parameters<typeof createDashboard>[1], rt = h.rt): Promise<string> {
  const server = createDashboard(rt, o).listen(0, '127.0.0.1');
  servers.push(server);
  await new Promise((r) => server.once('listening', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
const open = { auth: null, readOnly: false, secureCookies: false };

beforeAll(async () => {
  h = await createHarness();
  await seed(h.rt);
});
afterAll(async () => {
  for (const s of servers) s.close();
  await h.cleanup();
});

describe('dashboard endpoints', () => {
  it('/api/budget reports what was spent today', async () => {
    const url = await serve(open);
    const b = await (await fetch(`${url}/api/budget`)).json();
    expect(b).toMatchObject({ calls: { used: 3, cap: 20, left: 17 }, tokens: { used: 2100, cap: 160000 } });
  });

  it('the overview page draws what was spent, from the same figures: the burn chart, the outcomes per day, the stage times', async () => {
    const url = await serve(open);
    const page = await (await fetch(url)).text();
    const series = (name: string) =>
      Number(new RegExp(`data-series="${name}" data-total="(\\d+)"`).exec(page)?.[1] ?? NaN);
    expect([series('calls'), series('tokens')]).toEqual([3, 2100]);
    const segments = [...page.matchAll(/data-outcome="(\w+)" data-count="(\d+)"/g)].map((m) => [m[1], Number(m[2])]);
    expect(segments.reduce((n, [, c]) => n + (c as number), 0)).toBe(5);
    expect(page).toContain('data-testid="chart-durations"');
  });

  it('/api/cycles filters by gap and outcome and validates its query', async () => {
    const url = await serve(open);
    const all = await (await fetch(`${url}/api/cycles`)).json();
    expect(all.cycles).toHaveLength(5);
    const failed = await (await fetch(`${url}/api/cycles?outcome=tests_failed&limit=2`)).json();
    expect(failed.cycles.map((c: { outcome: string }) => c.outcome)).toEqual(['tests_failed', 'tests_failed']);
    const gap = await (await fetch(`${url}/api/cycles?gap=${GAP_B.id}`)).json();
    expect(gap.cycles).toHaveLength(3);
    const bad = await fetch(`${url}/api/cycles?outcome=great&limit=9999`);
    expect(bad.status).toBe(400);
    expect((await bad.json()).error).toMatch(/outcome: .*limit: /);
  });

  it('/stats?source=bot gives counts by outcome, PR share, by day and by gap', async () => {
    const url = await serve(open);
    const s = await (await fetch(`${url}/stats?source=bot`)).json();
    expect(s.source).toBe('bot');
    expect(s.totals).toEqual({ cycles: 5, by_outcome: { ok: 2, tests_failed: 3 }, pr_share: 0.4 });
    expect(s.by_day).toHaveLength(7);
    expect(s.by_gap.find((g: { gap_id: string }) => g.gap_id === GAP_B.id)).toMatchObject({
      cycles: 3,
      consecutive_failures: 3,
      pr_share: 0,
    });
  });

  it('/metrics exposes jobs, outcomes, budget and stage-duration histograms', async () => {
    const { observeStageDuration } = await import('@prbot/pipeline');
    await observeStageDuration(h.rt.redis, h.rt.keys, 'test', 1.7);
    const url = await serve(open);
    const res = await fetch(`${url}/metrics`);
    const text = await res.text();
    expect(res.headers.get('content-type')).toMatch(/text\/plain/);
    expect(text).toContain('prbot_jobs{queue="test",state="waiting"} 1');
    expect(text).toContain('prbot_outcomes_total{outcome="tests_failed"} 3');
    expect(text).toContain('prbot_budget_remaining{kind="calls"} 17');
    expect(text).toContain('prbot_stage_duration_seconds_bucket{stage="test",le="1"} 0');
    expect(text).toContain('prbot_stage_duration_seconds_bucket{stage="test",le="2.5"} 1');
    expect(text).toContain('prbot_stage_duration_seconds_count{stage="test"} 1');
  });

  it('status, the overview page, /api/overview and /metrics show the age of the oldest waiting job per queue', async () => {
    const { status, formatStatus } = await import('@prbot/control');
    // A job that has waited 90 s, seen through a clock 90 s ahead of its timestamp.
    const job = await h.rt.queues.pr.add('pr', { cycleId: 'cwaitingjob0001' }, { jobId: 'cwaitingjob0001-pr' });
    const rt = h.runtime({ clock: () => job.timestamp + 90_000 });
    try {
      const st = await status(rt);
      expect(st.queues.find((q) => q.queue === 'pr')!.oldestWaitingAgeMs).toBe(90_000);
      expect(st.queues.find((q) => q.queue === 'propose')!.oldestWaitingAgeMs).toBeNull();
      expect(formatStatus(st)).toMatch(/^pr\s+running\s+1\s+0\s+0\s+0\s+0\s+90s$/m);
      // README: "pnpm status # jobs per queue, paused or not, budget left".
      expect(formatStatus(st)).toMatch(
        /^budget \d{4}-\d{2}-\d{2}: 17\/20 calls and 157900\/160000 tokens left; resets /m,
      );
      const url = await serve(open, rt);
      const o = await (await fetch(`${url}/api/overview`)).json();
      expect(o.queues.find((q: { queue: string }) => q.queue === 'pr').oldestWaitingAgeMs).toBe(90_000);
      expect(await (await fetch(url)).text()).toMatch(/<tr data-queue="pr">.*<td>90 s<\/td>/);
      const text = await (await fetch(`${url}/metrics`)).text();
      expect(text).toContain('prbot_oldest_waiting_age_seconds{queue="pr"} 90');
      expect(text).toContain('prbot_oldest_waiting_age_seconds{queue="propose"} 0');
    } finally {
      await job.remove();
    }
  });

  // README: "/ — … refreshes itself every 10 s"; "--read-only hides pause/resume".
  it('the overview refreshes itself every 10 s by default and offers pause/resume unless read-only', async () => {
    const page = await (await fetch(await serve(open))).text();
    expect(page).toContain('<meta http-equiv="refresh" content="10">');
    expect(page).toMatch(/action="\/api\/queues\/propose\/(pause|resume)"/);
    const ro = await (await fetch(await serve({ ...open, readOnly: true }))).text();
    expect(ro).toContain('<meta http-equiv="refresh" content="10">');
    expect(ro).not.toMatch(/\/api\/queues\/[a-z]+\/(pause|resume)/);
  });

  it('/healthz answers 200, and 503 when Redis is down', async () => {
    expect((await fetch(`${await serve(open)}/healthz`)).status).toBe(200);
    const redis = await startRedisServer();
    const cfg = { ...h.cfg, redis: { ...h.cfg.redis, url: redis.url } };
    const rt = createRuntime(cfg, { role: 'client' });
    await waitReady(rt.redis, redis.url);
    const url = await serve(open, rt);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    await redis.stop();
    const down = await fetch(`${url}/healthz`);
    expect(down.status).toBe(503);
    expect(await down.json()).toMatchObject({ ok: false, redis: 'down' });
    rt.redis.disconnect();
  });

  it('/healthz of the real dashboard process recovers once a SIGKILLed Redis is back', async () => {
    const redis = await startRedisServer();
    const raw = JSON.parse(await readFile(h.configFile, 'utf8')) as { redis: Record<string, unknown> };
    const configFile = path.join(h.dir, 'dashboard-restart.config.json');
    await writeFile(configFile, JSON.stringify({ ...raw, redis: { ...raw.redis, url: redis.url } }));
    const child = execa(
      process.execPath,
      ['--import', 'tsx', path.join(REPO_ROOT, 'apps', 'dashboard', 'src', 'main.ts'), '--port', '0'],
      {
        cwd: REPO_ROOT,
        env: { PATH: process.env.PATH!, PRBOT_CONFIG: configFile },
        extendEnv: false,
        reject: false,
        buffer: false,
      },
    );
    let restarted: Awaited<ReturnType<typeof startRedisServer>> | undefined;
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout!.on('data', (c) => {
          out += String(c);
          const m = /prbot dashboard on (http:\/\/[^/\s]+)\//.exec(out);
          if (m) resolve(m[1]!);
        });
        child.once('exit', () => reject(new Error(`dashboard exited: ${out}`)));
      });
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      await redis.stop('SIGKILL');
      const health = async () => (await fetch(`${url}/healthz`)).status;
      await until(async () => (await health()) === 503, 10_000, 'healthz to report Redis down');
      // The outage lasts 3 s: longer than a client with 3 retries (~1.2 s) takes to give up for good.
      await new Promise((r) => setTimeout(r, 3000));
      expect(await health()).toBe(503);
      restarted = await startRedisServer({ port: redis.port });
      const back = Date.now();
      await until(async () => (await health()) === 200, 15_000, 'healthz to recover');
      const ms = Date.now() - back;
      console.log(`healthz recovered ${ms} ms after Redis came back`);
      expect(await (await fetch(`${url}/api/budget`)).json()).toMatchObject({ calls: { used: 0 } });
    } finally {
      child.kill('SIGTERM');
      await child;
      await restarted?.stop();
      await redis.stop();
    }
  });

  it('refuses state changes without a CSRF token', async () => {
    const url = await serve(open);
    const r = await fetch(`${url}/api/queues/test/pause`, { method: 'POST' });
    expect(r.status).toBe(403);
    expect(await h.rt.queues.test.isPaused()).toBe(false);
  });

  it('refuses a cross-site write to Bull Board', async () => {
    const url = await serve(open);
    const r = await fetch(`${url}/queues/api/queues/test/pause`, {
      method: 'PUT',
      headers: { origin: 'https://evil.example' },
    });
    expect(r.status).toBe(403);
    expect(await h.rt.queues.test.isPaused()).toBe(false);
  });

  it('with basic auth, every route but /healthz answers 401 without credentials', async () => {
    const url = await serve({ ...open, auth: { user: 'ops', password: 'pa55word' } });
    for (const p of ['/', '/queues', '/api/budget', '/api/cycles', '/stats', '/metrics']) {
      expect((await fetch(url + p)).status, p).toBe(401);
    }
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const ok = await fetch(`${url}/api/budget`, {
      headers: { authorization: `Basic ${Buffer.from('ops:pa55word').toString('base64')}` },
    });
    expect(ok.status).toBe(200);
    const wrong = await fetch(`${url}/api/budget`, {
      headers: { authorization: `Basic ${Buffer.from('ops:nope').toString('base64')}` },
    });
    expect(wrong.status).toBe(401);
  });

  it('read-only mode hides pause buttons and Bull Board refuses writes', async () => {
    const url = await serve({ ...open, readOnly: true });
    const html = await (await fetch(url)).text();
    expect(html).toContain('read-only');
    expect(html).not.toContain('data-testid="pause-test"');
    const r = await fetch(`${url}/queues/api/queues/test/pause`, { method: 'PUT' });
    expect(r.status).toBe(405);
  });

  it('Bull Board never adds jobs or replaces job data, even when not read-only', async () => {
    const url = await serve(open);
    const before = await h.rt.queues.pr.count();
    const add = await fetch(`${url}/queues/api/queues/pr/add`, {
      method: 'POST',
      headers: { origin: url, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'pr', data: { forged: true }, options: {} }),
    });
    expect(add.status).toBe(405);
    expect(await h.rt.queues.pr.count()).toBe(before);
    const job = await h.rt.queues.pr.add('pr', { original: true }, { jobId: 'dash-no-edit' });
    const edit = await fetch(`${url}/queues/api/queues/pr/${job.id}/update-data`, {
      method: 'PATCH',
      headers: { origin: url, 'content-type': 'application/json' },
      body: JSON.stringify({ jobData: { forged: true } }),
    });
    expect(edit.status).toBe(405);
    expect((await h.rt.queues.pr.getJob('dash-no-edit'))?.data).toEqual({ original: true });
    await job.remove();
  });

  it('refuses to bind beyond loopback without auth (function and CLI)', async () => {
    expect(() => assertSafeBind('0.0.0.0', null)).toThrow(/refusing to listen on 0\.0\.0\.0 without basic auth/);
    expect(() => assertSafeBind('0.0.0.0', { user: 'a', password: 'b' })).not.toThrow();
    expect(() => assertSafeBind('127.0.0.1', null)).not.toThrow();
    const r = await execa(
      path.join(REPO_ROOT, 'node_modules', '.bin', 'tsx'),
      [path.join(REPO_ROOT, 'apps', 'dashboard', 'src', 'main.ts'), '--host', '0.0.0.0'],
      {
        env: { PATH: process.env.PATH!, PRBOT_CONFIG: h.configFile },
        extendEnv: false,
        reject: false,
        timeout: 20_000,
      },
    );
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/refusing to listen on 0\.0\.0\.0/);
  });

  it("proposal contents never reach Bull Board's API responses (list and job view)", async () => {
    const marker = 'HOSTILE-PROPOSAL-CONTENT-5b1c';
    const data = {
      cycleId: 'cformatter00001',
      proposal: { summary: 's', files: [{ path: 'a.js', is_new: true, content: `const x = "${marker}";` }] },
      changes: [{ path: 'a.js', action: 'ADD', content: `${marker} again` }],
    };
    const job = await h.rt.queues.apply.add('apply', data, { jobId: 'cformatter00001-apply' });
    try {
      const url = await serve(open);
      const list = await (
        await fetch(`${url}/queues/api/queues?activeQueue=apply&status=waiting&page=1&jobsPerPage=10`)
      ).text();
      const one = await (await fetch(`${url}/queues/api/queues/apply/${job.id}`)).text();
      // The job is in both answers (so the check looks at the right place) and its contents are not.
      expect(list).toContain('cformatter00001-apply');
      expect(one).toContain('cformatter00001-apply');
      expect(list).toContain('bytes]');
      expect(list).not.toContain(marker);
      expect(one).not.toContain(marker);
    } finally {
      await job.remove();
    }
  });

  it("a propose job's saved answer, edits and a return value are shown as sizes in Bull Board's API too", async () => {
    const marker = 'HOSTILE-SAVED-ANSWER-9e2d';
    const saved = {
      proposal: {
        summary: 's',
        files: [
          { path: 'a.js', is_new: true, content: `const x = "${marker}";` },
          { path: 'b.js', is_new: false, edits: [{ search: `${marker} old`, replace: `${marker} new` }] },
        ],
      },
      model: { rung: 'loop/m' },
    };
    const job = await h.rt.queues.propose.add(
      'propose',
      { cycleId: 'cformatter00002', saved },
      { jobId: 'cformatter00002-propose' },
    );
    await h.rt.redis.hset(
      h.rt.queues.propose.toKey(job.id!),
      'returnvalue',
      JSON.stringify({ changes: [{ path: 'a.js', content: marker }] }),
    );
    try {
      const url = await serve(open);
      const list = await (
        await fetch(`${url}/queues/api/queues?activeQueue=propose&status=waiting&page=1&jobsPerPage=10`)
      ).text();
      const one = await (await fetch(`${url}/queues/api/queues/propose/${job.id}`)).text();
      expect(list).toContain('cformatter00002-propose');
      expect(one).toContain('cformatter00002-propose');
      expect(one).toMatch(/\[\d+ bytes\]/);
      expect(list).not.toContain(marker);
      expect(one).not.toContain(marker);
    } finally {
      await job.remove();
    }
  });

  it('shows model-written text as sizes wherever in the job it sits', () => {
    const marker = 'MODEL-TEXT-31f0';
    const shapes = [
      { saved: { proposal: { files: [{ path: 'a.js', content: marker }] } } },
      { revise: { answer: { proposal: { files: [{ path: 'a.js', edits: [{ search: marker, replace: marker }] }] } } } },
      { changes: [{ path: 'a.js', content: marker }] },
      [{ deep: [{ deeper: { content: marker } }] }],
    ];
    for (const d of shapes) {
      expect(JSON.stringify(d)).toContain(marker); // the check looks at a job that has the text
      expect(JSON.stringify(redactJobData(d))).not.toContain(marker);
    }
    expect(redactJobData({ saved: { proposal: { files: [{ path: 'a.js', content: 'abc' }] } } })).toEqual({
      saved: { proposal: { files: [{ path: 'a.js', content: '[3 bytes]' }] } },
    });
    // Nothing else is touched: ids and paths stay readable.
    expect(redactJobData({ cycleId: 'c1', repo: 'api', gap: { id: 'g1', text: 'Add x' } })).toEqual({
      cycleId: 'c1',
      // The configured repository's name (issue 23): Bull Board shows which repository a job is for.
      repo: 'api',
      gap: { id: 'g1', text: 'Add x' },
    });
  });

  // Issue 27's class: not only file contents. A pr job carries the proposal's summary, test
  // output and a revise PR's conversation; an events job carries the record quoting them.
  it('shows model-written, test-written and forge-written text of every queue as sizes; ids stay readable', () => {
    const M = 'LEAK-7d1c';
    const prJob = {
      cycleId: 'c0000000000001',
      gap: { id: 'g0123456789ab', text: 'Add truncate', line: 3 },
      baseCommit: 'a'.repeat(40),
      botCommit: 'b'.repeat(40),
      notes: [`previous diff: ${M}`],
      proposal: { summary: `summary ${M}`, files: [{ path: 'a.js', is_new: false, content: M }] },
      model: { rung: 'small', attempts: [{ rung: 'small', ok: false, error: `server said ${M}`, ms: 1 }] },
      changes: [{ path: 'a.js', action: 'UPDATE', mode: '100644', content: M }],
      tests: [{ phase: 'test', argv: ['npm', 'test'], ok: false, tail: `FAIL ${M}` }],
      revise: {
        pr: 4,
        branch: 'bot/x',
        trigger: { kind: 'comment', id: '9', author: 'alice', via: 'poll' },
        thread: [{ author: 'alice', kind: 'issue', body: `@prbot ${M}`, trigger: true }],
        lastDigest: `digest ${M}`,
      },
    };
    const record = {
      cycle_id: 'c0000000000001',
      gap_text: 'Add truncate',
      outcome: 'tests_failed',
      reason: `test failed: ${M}`,
      summary: `summary ${M}`,
      warnings: [`label: ${M}`],
      tests: [{ argv: ['npm', 'test'], tail: M }],
    };
    const returned = { outcome: 'ok', reason: `forge said ${M}` };
    for (const d of [prJob, record, returned]) {
      expect(JSON.stringify(d)).toContain(M);
      expect(JSON.stringify(redactJobData(d))).not.toContain(M);
    }
    expect(redactJobData(prJob)).toMatchObject({
      cycleId: 'c0000000000001',
      gap: { id: 'g0123456789ab', text: 'Add truncate', line: 3 },
      botCommit: 'b'.repeat(40),
      tests: [{ phase: 'test', argv: ['npm', 'test'], ok: false, tail: '[14 bytes]' }],
      revise: {
        pr: 4,
        branch: 'bot/x',
        trigger: { author: 'alice' },
        thread: [{ author: 'alice', body: '[16 bytes]' }],
      },
    });
    expect(redactJobData(record)).toMatchObject({
      cycle_id: 'c0000000000001',
      gap_text: 'Add truncate',
      outcome: 'tests_failed',
    });
  });

  it('never renders proposal or file contents in Bull Board', () => {
    const d = redactJobData({
      cycleId: 'c1',
      proposal: { summary: 's', files: [{ path: 'a.js', is_new: true, content: 'const secret = 1;' }] },
      changes: [{ path: 'a.js', content: 'xyz' }],
    });
    expect(JSON.stringify(d)).not.toContain('const secret');
    expect(d).toMatchObject({ proposal: { files: [{ content: '[17 bytes]' }] }, changes: [{ content: '[3 bytes]' }] });
  });
});

/** Waits for a condition (polled), failing with what was awaited after `ms`. */
async function until(cond: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await cond().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
