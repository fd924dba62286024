import { execa } from 'execa';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort, startRedisServer, type RedisServer } from './redis-server.ts';

export interface RedisCluster {
  urls: string[];
  stop(): Promise<void>;
}

/** Three masters on free ports, joined with `redis-cli --cluster create`; resolves when the cluster is ok. */
export async function startRedisCluster(): Promise<RedisCluster> {
  const dir = await mkdtemp(path.join(tmpdir(), 'prbot-cluster-'));
  const servers: RedisServer[] = [];
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    servers.push(await startRedisServer({ port, args: ['--cluster-enabled', 'yes', '--cluster-config-file', path.join(dir, `nodes-${port}.conf`), '--cluster-node-timeout', '2000', '--dir', dir] }));
  }
  const addrs = servers.map((s) => `127.0.0.1:${s.port}`);
  await execa('redis-cli', ['--cluster', 'create', ...addrs, '--cluster-replicas', '0', '--cluster-yes']);
  const probe = new Redis(servers[0]!.url);
  try {
    for (let i = 0; i < 100; i++) {
      const info = await probe.cluster('INFO');
      if (/cluster_state:ok/.test(String(info))) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    probe.disconnect();
  }
  return {
    urls: servers.map((s) => s.url),
    stop: async () => {
      await Promise.all(servers.map((s) => s.stop()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
