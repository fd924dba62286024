import { z } from 'zod';

export const redisSection = z
  .strictObject({
    url: z.string().regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL').default('redis://127.0.0.1:6379'),
    prefix: z
      .string()
      .regex(/^\{[A-Za-z0-9_.-]+\}$/, 'a hash tag such as "{prbot}" so every key shares one Cluster slot')
      .default('{prbot}'),
    /** Redis Cluster: seed node URLs (redis://host:port); when set, `url` is not used. */
    cluster: z.array(z.string().regex(/^rediss?:\/\//, 'a redis:// URL')).optional(),
  })
  .prefault({});
