import { z } from 'zod';
import { envName } from './common.ts';

export const jobsSection = z
  .strictObject({
    /**
     * The environment variable holding the key that signs every stage hand-over (HMAC). Workers
     * and the producer need it; it is never stored in Redis, job data or the config file.
     */
    keyEnv: envName.default('PRBOT_JOB_KEY'),
    /**
     * A signed job whose cycle started longer ago than this is refused: a signature has no expiry
     * of its own, and a cycle's outcome record (the ledger that stops a replay) lives 90 days, so a
     * copied job replayed after that, or after someone deleted the record, would run again on its
     * old base. Below the record's lifetime on purpose.
     */
    maxAgeDays: z.number().positive().max(60).default(30),
  })
  .prefault({});
