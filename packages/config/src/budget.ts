import { z } from 'zod';
import { positiveInt } from './common.ts';

export const budgetSection = z
  .strictObject({
    callsPerDay: positiveInt.default(20),
    tokensPerDay: positiveInt.default(160_000),
    onExhausted: z.enum(['skip', 'defer']).default('skip'),
    perCycle: z.strictObject({ calls: positiveInt.default(4), tokens: positiveInt.default(60_000) }).prefault({}),
  })
  .prefault({});
