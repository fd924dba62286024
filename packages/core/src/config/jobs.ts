import { z } from 'zod';
import { envName } from './common.ts';

export const jobsSection = z
  .strictObject({
    /**
     * The environment variable holding the key that signs every stage hand-over (HMAC). Workers
     * and the producer need it; it is never stored in Redis, job data or the config file.
     */
    keyEnv: envName.default('PRBOT_JOB_KEY'),
  })
  .prefault({});
