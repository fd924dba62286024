import type { RedisClient as Redis } from './redis.ts';
import type { BotPr } from '@prbot/forge';
import type { Keys } from './keys.ts';
import { withScripts } from './lua-scripts.ts';

export type Admission = { ok: true } | { ok: false; retryAt: number; reason: string };

// Long enough for an admitted cycle to push and open its PR, short enough that a slot taken by
// a cycle that then failed is soon given back.
const GRACE_MS = 10 * 60_000;

/**
 * The operator's PR limits (open at once, new per hour), checked with one atomic script before
 * a branch is pushed, so a burst of cycles cannot overshoot. The forge's own listing frees the
 * slots of PRs a human closed or merged.
 */
export async function admitPr(
  redis: Redis,
  keys: Keys,
  cycleId: string,
  limits: { maxOpen: number; maxPerHour: number; limitRetryMs: number },
  listBotPrs: () => Promise<BotPr[]>,
  now: number,
): Promise<Admission> {
  // Under the limits (the usual case) no forge listing is needed; only a refusal asks the forge
  // which PRs humans have closed or merged since, and tries again.
  const first = await admitOnce(redis, keys, cycleId, limits, null, now);
  if (first.ok) return first;
  return admitOnce(redis, keys, cycleId, limits, await listBotPrs(), now);
}

async function admitOnce(
  redis: Redis,
  keys: Keys,
  cycleId: string,
  limits: { maxOpen: number; maxPerHour: number; limitRetryMs: number },
  botPrs: BotPr[] | null,
  now: number,
): Promise<Admission> {
  const ids = (pred: (p: BotPr) => boolean) =>
    (botPrs ?? []).filter((p) => pred(p) && p.cycleId).map((p) => p.cycleId!);
  const closed = ids((p) => p.state !== 'open');
  const open = ids((p) => p.state === 'open');
  const [code, count, retryAt] = (await withScripts(redis).prAdmit(
    keys.prOpen(),
    keys.prOpenedHour(),
    cycleId,
    limits.maxOpen,
    limits.maxPerHour,
    now,
    GRACE_MS,
    botPrs === null ? -1 : closed.length,
    ...closed,
    ...open,
  )) as [number, number, number];
  if (code === 1) return { ok: true };
  if (code === -1)
    return {
      ok: false,
      retryAt: now + limits.limitRetryMs,
      reason: `${count} bot PRs are open; the limit is ${limits.maxOpen}`,
    };
  return { ok: false, retryAt, reason: `${count} bot PRs opened in the last hour; the limit is ${limits.maxPerHour}` };
}

/** Gives a slot back when a cycle that was admitted ends without a PR. */
export async function releasePrSlot(redis: Redis, keys: Keys, cycleId: string): Promise<void> {
  await redis.zrem(keys.prOpen(), cycleId);
}
