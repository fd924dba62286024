import { parseArgs } from 'node:util';
import { ConfigError, tuneHeapGrowth, UnavailableError, UsageError } from '@prbot/core';
import { openRuntime, waitReady } from '@prbot/pipeline';
import { loadConfig } from '@prbot/config';
import { assertSafeBind, authFromEnv } from './security.ts';
import { createDashboard } from './server.ts';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      'read-only': { type: 'boolean' },
      config: { type: 'string' },
    },
  });
  tuneHeapGrowth();
  const cfg = loadConfig(values.config);
  const host = values.host ?? cfg.dashboard.host;
  const port = values.port === undefined ? cfg.dashboard.port : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`--port must be 0-65535, not "${values.port}"`);
  const auth = authFromEnv(process.env);
  assertSafeBind(host, auth);
  // 'service': reconnects forever, so /healthz recovers after a Redis restart.
  const rt = await openRuntime(cfg, { role: 'service' });
  await waitReady(rt.redis, cfg.redis.url);
  const app = createDashboard(rt, {
    auth,
    readOnly: values['read-only'] ?? cfg.dashboard.readOnly,
    secureCookies: cfg.dashboard.secureCookies,
  });
  const server = app.listen(port, host, () => {
    const addr = server.address();
    const shown =
      typeof addr === 'object' && addr ? `${host.includes(':') ? `[${host}]` : host}:${addr.port}` : `${host}:${port}`;
    console.log(`prbot dashboard on http://${shown}/  (Bull Board: http://${shown}/queues)`);
  });
  const stop = () => server.close(() => void rt.close().then(() => process.exit(0)));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err: unknown) => {
  const known = err instanceof ConfigError || err instanceof UsageError || err instanceof UnavailableError;
  console.error(`prbot dashboard: ${known ? (err as Error).message : ((err as Error).stack ?? String(err))}`);
  process.exit(err instanceof ConfigError || err instanceof UsageError ? 2 : 1);
});
