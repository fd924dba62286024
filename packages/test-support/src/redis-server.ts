import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import net from 'node:net';
import { Redis } from 'ioredis';

export interface RedisServer {
  url: string;
  port: number;
  process: ChildProcess;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export function redisServerBinary(): string | null {
  for (const p of (process.env.PATH ?? '').split(':')) {
    if (p && existsSync(`${p}/redis-server`)) return `${p}/redis-server`;
  }
  return null;
}

/**
 * True when a Redis answers PING at `url` within a second or so. commandTimeout as well as
 * connectTimeout: a port held by something else that accepts and never replies (a TLS server
 * waiting for its hello, a stuck proxy) kept `pnpm demo` and the tests' global setup waiting
 * forever for the PONG.
 */
export async function redisAnswers(url: string): Promise<boolean> {
  const r = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    connectTimeout: 1000,
    commandTimeout: 1000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  r.on('error', () => {});
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

/**
 * Starts a `redis-server` child on a free port, with the production settings prbot assumes
 * (noeviction; AOF when a directory is given). Resolves once it answers.
 */
export async function startRedisServer(o: { dir?: string; port?: number; args?: string[] } = {}): Promise<RedisServer> {
  const bin = redisServerBinary();
  if (!bin)
    throw new Error(
      'redis-server is not installed (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis), or set REDIS_URL',
    );
  const port = o.port ?? (await freePort());
  if (o.dir) await mkdir(o.dir, { recursive: true });
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--maxmemory-policy', 'noeviction', '--save', ''];
  args.push(...(o.dir ? ['--dir', o.dir, '--appendonly', 'yes', '--appendfsync', 'everysec'] : ['--appendonly', 'no']));
  args.push(...(o.args ?? []));
  const child = spawn(bin, args, { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    if (await redisAnswers(url)) break;
    if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    port,
    process: child,
    stop: (signal = 'SIGTERM') =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill(signal);
      }),
  };
}
