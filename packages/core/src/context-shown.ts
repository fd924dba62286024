import { z } from 'zod';

/** What the prompt showed of one file; the cycle record lists every one, so nothing is cut silently. */
export const contextShownSchema = z.object({
  path: z.string(),
  shown: z.enum(['whole', 'windows']),
  /** Lines shown, e.g. "1-40,200-260"; "1-N" when whole. */
  lines: z.string(),
  /** The file's length in lines. */
  total: z.number().int().min(0),
});
export type ContextShown = z.infer<typeof contextShownSchema>;
