import { z } from 'zod';

export const redisSection = z
  .strictObject({
    url: z
      .string()
      .regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL')
      .default('redis://127.0.0.1:6379'),
    prefix: z
      .string()
      .regex(/^\{[A-Za-z0-9_.-]+\}$/, 'a hash tag such as "{prbot}" so every key shares one Cluster slot')
      .default('{prbot}'),
    /** Redis Cluster: seed node URLs (redis://host:port); when set, `url` is not used. */
    cluster: z.array(z.string().regex(/^rediss?:\/\//, 'a redis:// URL')).optional(),
    /**
     * Redis Sentinel: the master's name and the sentinels' URLs (redis://host:26379); the master
     * is asked of them and asked again after a failover. The data nodes' password is REDIS_URL's.
     */
    sentinel: z
      .strictObject({
        name: z.string().min(1),
        nodes: z.array(z.string().regex(/^rediss?:\/\//, 'a redis:// URL')).min(1),
      })
      .optional(),
    /**
     * Writes that must survive a failover (outcome records, budget charges, PR bookkeeping) wait
     * until this many replicas have them (Redis WAIT), at most `waitTimeoutMs`. Skipped on a
     * server without connected replicas. 0 turns the wait off.
     */
    waitReplicas: z.number().int().min(0).max(16).default(1),
    waitTimeoutMs: z.number().int().min(1).max(60_000).default(1000),
  })
  .refine((r) => !(r.cluster?.length && r.sentinel), {
    message: 'set redis.cluster or redis.sentinel, not both',
    path: ['sentinel'],
  })
  .prefault({});
