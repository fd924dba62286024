import type { Redis, Cluster } from 'ioredis';

/** Every key under the test's prefix with its value, whatever its type (strings, lists, hashes, sets, streams). */
export async function dumpRedis(rt: { redis: Redis | Cluster }, prefix: string): Promise<string> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await rt.redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    for (const k of keys) {
      const type = await rt.redis.type(k);
      const v =
        type === 'string'
          ? await rt.redis.get(k)
          : type === 'list'
            ? await rt.redis.lrange(k, 0, -1)
            : type === 'hash'
              ? await rt.redis.hgetall(k)
              : type === 'set'
                ? await rt.redis.smembers(k)
                : type === 'zset'
                  ? await rt.redis.zrange(k, 0, -1, 'WITHSCORES')
                  : type === 'stream'
                    ? await rt.redis.xrange(k, '-', '+')
                    : type;
      out.push(`${k} ${JSON.stringify(v)}`);
    }
  } while (cursor !== '0');
  return out.join('\n');
}
