import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Worker } from 'bullmq';
import type { RedisClient } from '@prbot/pipeline';
import type { QueueHealth } from './queue-watch.ts';

export interface HealthSources {
  redis: RedisClient;
  workers: () => Worker[];
  queues: () => QueueHealth[];
  /** The start checks passed and the workers run. */
  started: () => boolean;
  /** A SIGTERM was received: draining. */
  stopping: () => boolean;
}

interface HealthReport {
  ok: boolean;
  problems: string[];
  redis: { status: string };
  queues: (QueueHealth & { running: boolean })[];
}

/**
 * Liveness: what a restart would mend. A connection that gave up for good (`end`) or a queue not
 * consuming is; Redis being away is not (every worker restarting at once during a Redis restart
 * helps nobody, and the connections come back by themselves), so a reconnecting Redis is reported
 * in the body, not failed.
 */
function healthReport(s: HealthSources): HealthReport {
  const problems: string[] = [];
  const status = s.redis.status;
  if (status === 'end') problems.push('the Redis connection ended and will not reconnect');
  const workers = s.workers();
  const queues = s.queues().map((q, i) => {
    const w = workers[i];
    const running = w ? w.isRunning() : false;
    if (!q.consuming) problems.push(`queue ${q.queue} is not consuming`);
    else if (!running && !s.stopping()) problems.push(`the worker of queue ${q.queue} is not running`);
    return { ...q, running };
  });
  return { ok: problems.length === 0, problems, redis: { status }, queues };
}

/**
 * `/healthz` (liveness) and `/readyz` (readiness) on a port of their own, so a probe never
 * competes with anything else and the endpoints exist only where `worker.healthPort` is set.
 */
export async function startHealthServer(
  s: HealthSources,
  o: { host: string; port: number },
): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const send = (code: number, body: object) => {
      res.writeHead(code, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : JSON.stringify(body));
    };
    if (path === '/healthz') {
      const r = healthReport(s);
      send(r.ok ? 200 : 503, r);
    } else if (path === '/readyz') {
      const ready = s.started() && !s.stopping();
      send(ready ? 200 : 503, { ready, started: s.started(), stopping: s.stopping() });
    } else {
      send(404, { error: 'not found; try /healthz or /readyz' });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
