import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort, redisAnswers, redisServerBinary, startRedisServer, type RedisServer } from './redis-server.ts';

export interface RedisSentinelSet {
  /** The name the sentinels monitor the master by (config `redis.sentinel.name`). */
  name: string;
  /** The sentinels' URLs (config `redis.sentinel.nodes`). */
  sentinels: string[];
  /** The data servers (master and replicas) by port; a killed one stays listed. */
  servers: Map<number, RedisServer>;
  /** The port of the master the sentinels name now. */
  master(): Promise<number>;
  /** The data servers replicating from the current master, by port. */
  replicas(): Promise<number[]>;
  /** Starts a stopped data server again on its port; the sentinels turn a failed master into a replica. */
  restart(port: number): Promise<RedisServer>;
  stop(): Promise<void>;
}

const DOWN_AFTER_MS = 1000;

/**
 * One master, `replicas` replicas (default 2) and `sentinels` sentinels (default 3, quorum 2), on
 * free ports. Sentinels are `redis-server --sentinel` (Debian's redis-sentinel is the same
 * binary). A master is judged down after 1 s, so a killed master's replica is promoted within a
 * few seconds. Resolves once every sentinel knows the master and its replicas.
 */
export async function startRedisSentinel(o: { replicas?: number; sentinels?: number } = {}): Promise<RedisSentinelSet> {
  const bin = redisServerBinary();
  if (!bin) throw new Error('redis-server is not installed (Debian/Ubuntu: apt-get install redis-server)');
  const dir = await mkdtemp(path.join(tmpdir(), 'prbot-sentinel-'));
  const name = 'prbotmaster';
  const servers = new Map<number, RedisServer>();
  const masterPort = await freePort();
  servers.set(
    masterPort,
    await startRedisServer({ port: masterPort, args: ['--dir', dir, '--dbfilename', `dump-${masterPort}.rdb`] }),
  );
  for (let i = 0; i < (o.replicas ?? 2); i++) {
    const port = await freePort();
    servers.set(
      port,
      await startRedisServer({
        port,
        args: ['--dir', dir, '--dbfilename', `dump-${port}.rdb`, '--replicaof', '127.0.0.1', String(masterPort)],
      }),
    );
  }
  // The replicas in sync before any sentinel is asked about them.
  const probe = new Redis(servers.get(masterPort)!.url);
  try {
    for (let i = 0; i < 200; i++) {
      const online = (String(await probe.info('replication')).match(/^slave\d+:.*state=online/gm) ?? []).length;
      if (online >= (o.replicas ?? 2)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    probe.disconnect();
  }
  const sentinelProcs: { port: number; kill(): void; exited: Promise<void> }[] = [];
  for (let i = 0; i < (o.sentinels ?? 3); i++) {
    const port = await freePort();
    const conf = path.join(dir, `sentinel-${port}.conf`);
    // Sentinel rewrites its own config file (it must be writable): one per sentinel.
    await writeFile(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${name} 127.0.0.1 ${masterPort} 2`,
        `sentinel down-after-milliseconds ${name} ${DOWN_AFTER_MS}`,
        `sentinel failover-timeout ${name} 10000`,
        `sentinel parallel-syncs ${name} 1`,
        '',
      ].join('\n'),
    );
    const child = spawn(bin, [conf, '--sentinel'], { stdio: 'ignore' });
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    sentinelProcs.push({ port, kill: () => child.kill('SIGTERM'), exited });
    for (let t = 0; t < 100 && !(await redisAnswers(`redis://127.0.0.1:${port}`)); t++)
      await new Promise((r) => setTimeout(r, 50));
  }
  const sentinels = sentinelProcs.map((s) => `redis://127.0.0.1:${s.port}`);
  const askSentinel = async <T>(fn: (r: Redis) => Promise<T>): Promise<T> => {
    for (const url of sentinels) {
      const r = new Redis(url, {
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
        connectTimeout: 1000,
        commandTimeout: 2000,
      });
      r.on('error', () => {});
      try {
        await r.connect();
        return await fn(r);
      } catch {
        // the next sentinel
      } finally {
        r.disconnect();
      }
    }
    throw new Error('no sentinel answers');
  };
  const master = async () =>
    Number(((await askSentinel((r) => r.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name))) as string[])[1]);
  const replicas = async () => {
    const rows = (await askSentinel((r) => r.call('SENTINEL', 'REPLICAS', name))) as string[][];
    return (
      rows
        .map(
          (row) =>
            Object.fromEntries(row.flatMap((v, i) => (i % 2 === 0 ? [[v, row[i + 1]]] : []))) as Record<string, string>,
        )
        // Not master-link-status: a sentinel refreshes it from INFO only every 10 s.
        .filter((r) => !/s_down|o_down|disconnected/.test(r.flags ?? ''))
        .map((r) => Number(r.port))
    );
  };
  // Every sentinel must know the replicas (learned from INFO every 10 s at first) and each other.
  for (let i = 0; i < 300; i++) {
    const ok = await Promise.all(
      sentinels.map(async (url) => {
        const r = new Redis(url, { maxRetriesPerRequest: 0, retryStrategy: () => null });
        r.on('error', () => {});
        try {
          const m = (await r.call('SENTINEL', 'MASTER', name)) as string[];
          const f = Object.fromEntries(m.flatMap((v, j) => (j % 2 === 0 ? [[v, m[j + 1]]] : []))) as Record<
            string,
            string
          >;
          return (
            Number(f['num-slaves']) >= (o.replicas ?? 2) && Number(f['num-other-sentinels']) >= (o.sentinels ?? 3) - 1
          );
        } catch {
          return false;
        } finally {
          r.disconnect();
        }
      }),
    );
    if (ok.every(Boolean)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    name,
    sentinels,
    servers,
    master,
    replicas,
    async restart(port) {
      // Started as a master on purpose: the sentinels must notice and demote it (+convert-to-slave).
      const s = await startRedisServer({ port, args: ['--dir', dir, '--dbfilename', `dump-${port}.rdb`] });
      servers.set(port, s);
      return s;
    },
    async stop() {
      for (const s of sentinelProcs) s.kill();
      await Promise.all(sentinelProcs.map((s) => s.exited));
      for (const s of servers.values()) s.process.kill('SIGCONT');
      await Promise.all([...servers.values()].map((s) => s.stop()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
