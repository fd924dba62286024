import { z } from 'zod';
import { positiveInt } from './common.ts';

/**
 * Revise cycles (issue 17): a comment on an open bot PR that mentions `handle`, or `label` put on
 * it, by a user with write access, starts a cycle that pushes a new commit to the PR's branch.
 * Off by default: polling reads every open bot PR's comments at each produce.
 */
export const reviseSection = z
  .strictObject({
    enabled: z.boolean().default(false),
    /** The mention that asks for a revision, e.g. "@prbot" (matched as a whole word, any case). */
    handle: z
      .string()
      .regex(/^@[A-Za-z0-9][A-Za-z0-9._-]*$/, 'a mention such as "@prbot"')
      .default('@prbot'),
    /** A label that asks for a revision (removed again once the cycle is enqueued); null: labels do nothing. */
    label: z.string().min(1).max(50).nullable().default('prbot:revise'),
    /** At most this many revise cycles per PR; further requests get one reply saying so. */
    maxRevisionsPerPr: positiveInt.default(3),
    /** The newest comments of the thread shown to the model. */
    threadCap: positiveInt.default(20),
    /** Characters kept of one comment (the rest is cut, and the prompt says so). */
    commentChars: positiveInt.default(4000),
    /** Characters kept of the PR's current diff in the prompt. */
    diffChars: positiveInt.default(30_000),
  })
  .prefault({});
