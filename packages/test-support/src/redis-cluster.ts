import { execa } from 'execa';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort, startRedisServer, type RedisServer } from './redis-server.ts';

export interface RedisCluster {
  urls: string[];
  /** The servers by port (a killed one stays listed; `restart` brings it back on its port). */
  servers: Map<number, RedisServer>;
  /** The port of the master serving `key`'s slot now, and the ports of its replicas. */
  ownerOf(key: string): Promise<{ master: number; replicas: number[] }>;
  /** Starts a stopped node again on its port with its nodes.conf: it rejoins (a failed master as a replica). */
  restart(port: number): Promise<RedisServer>;
  stop(): Promise<void>;
}

const CLUSTER_NODE_TIMEOUT_MS = 2000;

/**
 * A Redis Cluster on free ports, joined with `redis-cli --cluster create`; resolves when the
 * cluster is ok. Three masters, each with `replicas` replicas (default none). The node timeout is
 * 2 s, so a killed master's replica is promoted within a few seconds.
 */
export async function startRedisCluster(o: { replicas?: number } = {}): Promise<RedisCluster> {
  const replicas = o.replicas ?? 0;
  const dir = await mkdtemp(path.join(tmpdir(), 'prbot-cluster-'));
  const servers = new Map<number, RedisServer>();
  const argsFor = (port: number) => [
    '--cluster-enabled',
    'yes',
    '--cluster-config-file',
    path.join(dir, `nodes-${port}.conf`),
    '--cluster-node-timeout',
    String(CLUSTER_NODE_TIMEOUT_MS),
    // A replica that lagged (the test freezes one) may still be promoted: availability first, as
    // the failover tests measure what that costs.
    '--cluster-replica-validity-factor',
    '0',
    '--dir',
    dir,
  ];
  for (let i = 0; i < 3 * (1 + replicas); i++) {
    const port = await freePort();
    servers.set(port, await startRedisServer({ port, args: argsFor(port) }));
  }
  const addrs = [...servers.keys()].map((p) => `127.0.0.1:${p}`);
  await execa('redis-cli', ['--cluster', 'create', ...addrs, '--cluster-replicas', String(replicas), '--cluster-yes']);
  const ask = async <T>(fn: (r: Redis) => Promise<T>): Promise<T> => {
    // Any live node answers CLUSTER questions for the whole cluster.
    for (const s of servers.values()) {
      if (s.process.exitCode !== null || s.process.signalCode !== null) continue;
      const r = new Redis(s.url, {
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
        // a stopped (SIGSTOP) or dying node: ask the next
      } finally {
        r.disconnect();
      }
    }
    throw new Error('no cluster node answers');
  };
  const waitOk = async () => {
    for (let i = 0; i < 200; i++) {
      const ok = await ask(async (r) => {
        if (!/cluster_state:ok/.test(String(await r.cluster('INFO')))) return false;
        // Every node agrees on the slots (a fresh `create` takes a moment to spread).
        const nodes = String(await r.cluster('NODES'));
        return !/\bfail\b|handshake|noaddr/.test(nodes);
      }).catch(() => false);
      if (ok) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('the cluster did not reach cluster_state:ok');
  };
  await waitOk();
  if (replicas > 0) {
    // Replicas must be attached and in sync before a test relies on a failover.
    for (let i = 0; i < 200; i++) {
      const linked = await ask(
        async (r) =>
          String(await r.cluster('NODES'))
            .split('\n')
            .filter((l) => / slave /.test(l) && / connected/.test(l)).length,
      );
      if (linked >= 3 * replicas) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    urls: [...servers.values()].map((s) => s.url),
    servers,
    async ownerOf(key) {
      return ask(async (r) => {
        const slot = Number(await r.cluster('KEYSLOT', key));
        const shards = await r.cluster('SLOTS');
        const shard = shards.find(([from, to]) => slot >= from && slot <= to);
        if (!shard?.[2]) throw new Error(`no node serves slot ${slot}`);
        const [, , master, ...reps] = shard;
        return { master: Number(master[1]), replicas: reps.map((x) => Number(x[1])) };
      });
    },
    async restart(port) {
      const s = await startRedisServer({ port, args: argsFor(port) });
      servers.set(port, s);
      return s;
    },
    stop: async () => {
      // A node a test froze (SIGSTOP) would never act on its SIGTERM.
      for (const s of servers.values()) s.process.kill('SIGCONT');
      await Promise.all([...servers.values()].map((s) => s.stop()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
