import { z } from 'zod';
import { discoveredName, type LoadedConfig } from '@prbot/config';
import type { Logger } from '@prbot/core';
import type { Keys } from './keys.ts';
import type { RedisClient } from './redis.ts';

/**
 * The discovered repositories (issue 23) as the last produce left them, in one Redis hash:
 * prbot name → its entry as JSON. Workers build their views of discovered repositories from it,
 * so a worker serves a repository it was never configured with. What Redis holds is read like
 * any input: an entry is used only if it parses, names a repository the forge's rule allows,
 * and sits under the name its forge name gives (a key written by hand cannot alias another).
 */
const forgeRepo = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,100}$/, 'a repository name')
  .refine((n) => n !== '.' && n !== '..', 'a repository name');
// As discover.ts reads a default branch: it reaches git's argv.
const branch = z.string().regex(/^(?!-)(?!.*\.\.)[^\x00-\x20\x7f~^:?*[\\]{1,255}$/, 'a branch name');
const iso = z.iso.datetime();

const entrySchema = z.strictObject({
  forgeRepo,
  base: branch,
  via: z.enum(['topic', 'file']),
  /** served: produce enqueues its gaps; drained: the forge no longer lists or marks it. */
  state: z.enum(['served', 'drained']),
  firstSeen: iso,
  lastSeen: iso,
  /** When it was last found gone (a drained repository that comes back keeps the stamp until it goes again). */
  drainedAt: iso.optional(),
});
export type DiscoveredEntry = z.infer<typeof entrySchema>;

/** Off only in a positive control: an entry is taken as its JSON says, unchecked. */
export const discoveredSetDefence = { validate: true };

/** The hash as written: prbot name → entry. Only a discovering produce writes it. */
export async function writeDiscoveredSet(
  redis: RedisClient,
  k: Keys,
  entries: ReadonlyMap<string, DiscoveredEntry>,
): Promise<void> {
  if (entries.size === 0) return;
  // Fields only ever set, never deleted: a repository's entry outlives its listing (drained).
  await redis.hset(
    k.discovered(),
    Object.fromEntries([...entries].map(([name, e]) => [name, JSON.stringify(entrySchema.parse(e))])),
  );
}

/**
 * The entries that stand, by prbot name (sorted); each refused one is logged with why. A name a
 * `repos:` entry holds is the configured one's: an explicit entry wins a clash.
 */
export async function readDiscoveredSet(
  redis: RedisClient,
  k: Keys,
  cfg: Pick<LoadedConfig, 'discover' | 'repositories'>,
  log: Logger,
): Promise<Map<string, DiscoveredEntry>> {
  const out = new Map<string, DiscoveredEntry>();
  if (!cfg.discover) return out;
  const raw = await redis.hgetall(k.discovered());
  const configured = new Set(cfg.repositories.map((r) => r.name));
  for (const name of Object.keys(raw).sort()) {
    if (configured.has(name)) continue;
    const why = refusal(name, raw[name]!, cfg.discover);
    if (typeof why === 'string') warnOnce(log, k.discovered(), name, why);
    else out.set(name, why);
  }
  return out;
}

function refusal(name: string, text: string, d: NonNullable<LoadedConfig['discover']>): string | DiscoveredEntry {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return 'discovered set: an entry that is not JSON is ignored';
  }
  if (!discoveredSetDefence.validate) return json as DiscoveredEntry;
  const e = entrySchema.safeParse(json);
  if (!e.success) {
    const at = e.error.issues[0]!;
    return `discovered set: an entry that does not parse is ignored (${at.path.join('.')}: ${at.message})`;
  }
  if (discoveredName(d, e.data.forgeRepo) !== name)
    return `discovered set: an entry under a name its repository (${e.data.forgeRepo}) does not give is ignored`;
  return e.data;
}

// views() reads the set for every job: a refused entry is warned about once per process, not per job.
const warned = new Set<string>();
function warnOnce(log: Logger, key: string, field: string, why: string): void {
  const id = `${key}\n${field}\n${why}`;
  if (warned.has(id) || warned.size >= 1000) return;
  warned.add(id);
  log.warn({ key, field: field.slice(0, 100) }, why);
}
