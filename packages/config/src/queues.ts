import { z } from 'zod';
import { positiveInt } from './common.ts';

const backoffSchema = z.strictObject({
  type: z.enum(['exponential', 'fixed']).default('exponential'),
  delay: z.number().int().min(0).default(2000),
  jitter: z.number().min(0).max(1).default(0.5),
});

/** Per-queue policy; each queue gets its own defaults (see `queuesSection` below). */
function queueSettings(d: {
  concurrency: number;
  attempts: number;
  delay: number;
  limiter?: { max: number; duration: number };
}) {
  return z
    .strictObject({
      concurrency: positiveInt.max(256).default(d.concurrency),
      attempts: positiveInt.max(100).default(d.attempts),
      backoff: backoffSchema.prefault({ delay: d.delay }),
      // null switches the limiter off for this queue.
      limiter: z
        .strictObject({ max: positiveInt, duration: positiveInt })
        .nullable()
        .default(d.limiter ?? null),
    })
    .prefault({});
}

export const queuesSection = z
  .strictObject({
    // Provider limits are strict sliding windows; BullMQ's fixed window can let ~2x through
    // at a window edge (measured), hence half of a typical 60 rpm.
    propose: queueSettings({ concurrency: 2, attempts: 3, delay: 5000, limiter: { max: 30, duration: 60_000 } }),
    apply: queueSettings({ concurrency: 4, attempts: 3, delay: 1000 }),
    test: queueSettings({ concurrency: 1, attempts: 2, delay: 5000 }),
    pr: queueSettings({ concurrency: 1, attempts: 5, delay: 10_000, limiter: { max: 10, duration: 60_000 } }),
    events: queueSettings({ concurrency: 2, attempts: 8, delay: 2000 }),
    produce: queueSettings({ concurrency: 1, attempts: 3, delay: 30_000 }),
  })
  .prefault({});
