// deploy/redis-users.acl.example, for real: a private redis-server loads it (with passwords
// filled in), a whole cycle runs with the producer and worker users, the dashboard user reads
// status and pauses a queue, and Redis's ACL LOG records no denial. Each user is refused what
// lies outside its rights.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRuntime } from '@prbot/pipeline';
import { createHarness, REPO_ROOT, startRedisServer, type Harness, type RedisServer } from '@prbot/test-support';
import { status } from '@prbot/control';
import { runAll } from '@prbot/worker';

const ROLES = ['WORKER', 'PRODUCER', 'DASHBOARD'] as const;
const passwords = Object.fromEntries(ROLES.map((r) => [r, randomBytes(12).toString('hex')])) as Record<
  (typeof ROLES)[number],
  string
>;
const admin = randomBytes(12).toString('hex');
let dir: string;
let server: RedisServer;
let h: Harness | undefined;
const url = (user: string, pw: string) => `redis://${user}:${pw}@127.0.0.1:${server.port}`;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'prbot-acl-'));
  let acl = await readFile(path.join(REPO_ROOT, 'deploy', 'redis-users.acl.example'), 'utf8');
  for (const r of ROLES)
    acl = acl.replace(
      `#<sha256 of PRBOT_REDIS_${r}_PASSWORD>`,
      `#${createHash('sha256').update(passwords[r]).digest('hex')}`,
    );
  // redis-server's aclfile takes no comments.
  acl = acl
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .join('\n');
  expect(acl).not.toContain('<sha256');
  // The test's own observer, to read ACL LOG; not part of the example.
  acl += `\nuser acl-admin on >${admin} ~* &* +@all\n`;
  await writeFile(path.join(dir, 'users.acl'), acl);
  server = await startRedisServer({ args: ['--aclfile', path.join(dir, 'users.acl')] });
});

afterAll(async () => {
  await h?.cleanup();
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('Redis ACL users of deploy/redis-users.acl.example', () => {
  it('a whole cycle runs as prbot-producer and prbot-worker; the dashboard user reads status and pauses; no denial is logged', async () => {
    h = await createHarness({ config: { redis: { url: url('prbot-worker', passwords.WORKER), prefix: '{prbot}' } } });
    const producer = createRuntime(
      { ...h.cfg, redis: { ...h.cfg.redis, url: url('prbot-producer', passwords.PRODUCER) } },
      { role: 'client', env: {} },
    );
    const dashboard = createRuntime(
      { ...h.cfg, redis: { ...h.cfg.redis, url: url('prbot-dashboard', passwords.DASHBOARD) } },
      { role: 'client', env: {} },
    );
    try {
      const run = await runAll(h.rt, { producer, timeoutMs: 60_000 });
      expect(run.records.map((r) => `${r.outcome}: ${r.reason}`).join('\n')).toMatch(/^ok:/m);
      const s = await status(dashboard);
      expect(s).toBeTruthy();
      await dashboard.queues.test.pause();
      expect(await dashboard.queues.test.isPaused()).toBe(true);
      await dashboard.queues.test.resume();
    } finally {
      await producer.close();
      await dashboard.close();
    }
    const observer = new Redis(url('acl-admin', admin));
    try {
      const log = (await observer.call('ACL', 'LOG')) as unknown[];
      expect(log).toEqual([]);
    } finally {
      observer.disconnect();
    }
  });

  it('refuses the anonymous user, other prefixes and dangerous commands', async () => {
    const anon = new Redis(`redis://127.0.0.1:${server.port}`, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      enableReadyCheck: false,
    });
    await expect(anon.connect().then(() => anon.get('{prbot}:x'))).rejects.toThrow(/NOAUTH|WRONGPASS|NOPERM/);
    anon.disconnect();
    for (const r of ROLES) {
      const user = `prbot-${r.toLowerCase()}`;
      const c = new Redis(url(user, passwords[r]), { maxRetriesPerRequest: 0 });
      try {
        expect(await c.set('{prbot}:acl-probe', '1')).toBe('OK');
        await expect(c.get('other:key'), `${user} GET outside the prefix`).rejects.toThrow(/NOPERM/);
        await expect(c.call('CONFIG', 'GET', 'dir'), `${user} CONFIG`).rejects.toThrow(/NOPERM/);
        await expect(c.call('FLUSHALL'), `${user} FLUSHALL`).rejects.toThrow(/NOPERM/);
        await expect(c.call('KEYS', '*'), `${user} KEYS`).rejects.toThrow(/NOPERM/);
        await expect(
          c.call('EVAL', "return redis.call('GET', 'other:key')", '0'),
          `${user} EVAL reaching outside`,
        ).rejects.toThrow(/NOPERM|can't access/);
        await c.del('{prbot}:acl-probe');
      } finally {
        c.disconnect();
      }
    }
  });
});
