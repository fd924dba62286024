import { redisAnswers, startRedisServer, type RedisServer } from '@prbot/test-support';

let server: RedisServer | undefined;

/** Uses the Redis at REDIS_URL (default 127.0.0.1:6379); when none answers, starts one for the run. */
export async function setup(): Promise<void> {
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  if (await redisAnswers(url)) {
    process.env.REDIS_URL = url;
    return;
  }
  server = await startRedisServer();
  process.env.REDIS_URL = server.url;
  console.log(`no Redis at ${url}; started redis-server at ${server.url} for this run`);
}

export async function teardown(): Promise<void> {
  await server?.stop();
}
