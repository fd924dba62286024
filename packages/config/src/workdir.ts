import { z } from 'zod';

/**
 * `workdir`: this machine's mirrors and test slots. A plain string is the path (the form of old,
 * kept working); the object form adds `maxBytes`, the cap on the mirrors and slots of every
 * repository under it, kept by evicting the least recently used idle ones (pipeline's
 * disk-cap.ts). No `maxBytes`: no cap. Either way the parsed value is `{ path, maxBytes? }`.
 * The string is turned into the object before checking, so an error names the field
 * (`workdir.maxBytes`), not "neither form".
 */
export const workdirSection = z.preprocess(
  (w) => (typeof w === 'string' ? { path: w } : w),
  z
    .strictObject({
      path: z.string().min(1).default('data/_work'),
      /** Bytes on disk (allocated blocks, as `du`) of all mirrors and slots under `path`. */
      maxBytes: z.number().int().positive().optional(),
    })
    .prefault({}),
);
