import { z } from 'zod';
import { positiveInt } from './common.ts';

/**
 * Upkeep of open bot PRs (issue 25), at each produce and on a push to the base branch: a PR whose
 * base moved is refreshed, a PR whose gap is no longer wanted is closed. prbot rewrites a branch
 * only while it holds nothing but the commit prbot last pushed there, and only with a lease on it.
 */
export const upkeepSection = z
  .strictObject({
    /**
     * When a PR is rebuilt on the moved base: `behind` (whenever the base moved), `conflicted`
     * (only when the change no longer merges cleanly; Renovate's default) or `never`.
     */
    rebaseWhen: z.enum(['behind', 'conflicted', 'never']).default('conflicted'),
    /** A change that no longer applies: `propose` it afresh on the new base (a model call) or only `comment`. */
    onConflict: z.enum(['propose', 'comment']).default('propose'),
    /** At most this many re-proposals per PR; after that, one comment says prbot stops. */
    maxReproposals: positiveInt.default(2),
    /** Close the open bot PR of a gap that was ticked off, removed from the PRD or untagged. */
    autoclose: z.boolean().default(true),
    /** With autoclose: delete the closed PR's branch (only while it holds nothing but prbot's commit). */
    deleteBranch: z.boolean().default(true),
  })
  .prefault({});
