import { canonicalUrl, type LoadedConfig } from '@prbot/config';
import { UsageError, type Logger } from '@prbot/core';
import { defenceOff } from './faults.ts';
import type { Keys } from './keys.ts';
import type { RedisClient } from './redis.ts';

/**
 * Which repository keeps the legacy key layout: the unscoped keys and gap ids (`gapId(text)`)
 * of a deployment that served one repository, so its gap history, locks, PR limits and open
 * PRs' gap ids survive the upgrade to many repositories (docs/ARCHITECTURE.md, "Many repositories").
 *
 * - The single `repo:` form: its repository, always (the layout of old, byte for byte). Its
 *   canonical url is written to `<prefix>:bot:legacy-repo`, so that moving it into `repos:`
 *   later keeps it.
 * - The `repos:` form: the entry whose canonical url the marker names (none: every repository
 *   is scoped). No marker but unscoped data from a deployment that never wrote one (it ran the
 *   code of before this marker): with one entry, that entry, recorded now; with several, a
 *   UsageError that says how to name it, rather than a guess that could lose its history.
 *
 * Returns the legacy repository's name, or null when every repository is scoped.
 */
export async function settleLegacyRepo(
  redis: RedisClient,
  k: Keys,
  cfg: LoadedConfig,
  log: Logger,
): Promise<string | null> {
  // Off only in a positive control: every repository is scoped, the single one included.
  if (defenceOff('legacy-layout')) return null;
  const urls = cfg.repositories.map((r) => canonicalUrl(cfg, r));
  if (cfg.repoForm === 'repo') {
    const url = urls[0]!;
    // A dashboard's Redis user may be read-only; the layout does not depend on this write.
    if ((await redis.get(k.legacyRepo()).catch(() => null)) !== url)
      await redis
        .set(k.legacyRepo(), url)
        .catch((err: Error) => log.debug({ err: err.message }, 'legacy-repo not recorded'));
    return cfg.repositories[0]!.name;
  }
  let url = await redis.get(k.legacyRepo());
  if (url === null && (await hasUnscopedData(redis, k))) {
    if (cfg.repositories.length > 1)
      throw new UsageError(
        `Redis holds the state of a single-repository deployment (unscoped keys under ${k.legacyRepo().replace(/legacy-repo$/, '')}) but not which repository it served; start once with the single \`repo:\` form of that repository, or name it: SET ${k.legacyRepo()} <its canonical url: an absolute path, or the clone URL without a trailing / or .git, host in lower case>. Otherwise its gap history and open PRs would be read as another repository's`,
      );
    // SET NX: two processes starting at once record one answer (the same, with one entry).
    await redis
      .set(k.legacyRepo(), urls[0]!, 'NX')
      .catch((err: Error) => log.warn({ err: err.message }, 'legacy-repo not recorded; a writer records it'));
    url = (await redis.get(k.legacyRepo())) ?? urls[0]!;
  }
  const i = url === null ? -1 : urls.indexOf(url);
  return i < 0 ? null : cfg.repositories[i]!.name;
}

/** Keys only the legacy layout writes: a single-repository deployment left its state here. */
async function hasUnscopedData(redis: RedisClient, k: Keys): Promise<boolean> {
  if ((await redis.exists(k.gapPrs(), k.prOpen(), k.prOpenedHour(), k.dashboardIssue())) > 0) return true;
  for (const pattern of [k.history('*'), k.inflightPattern()]) {
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      if (found.length > 0) return true;
      cursor = next;
    } while (cursor !== '0');
  }
  return false;
}
