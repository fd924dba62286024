import { z } from 'zod';

export const repoSection = z.strictObject({
  /** A local path (absolute or relative to the config file) or a clone URL. */
  url: z.string().min(1),
  base: z.string().min(1).default('main'),
  prd: z.string().min(1).default('docs/PRD.md'),
  pauseFile: z.string().min(1).default('bot.paused'),
});
