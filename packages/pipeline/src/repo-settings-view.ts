import { ConfigError } from '@prbot/core';
import {
  applyRepoSettings,
  parseRepoSettings,
  REPO_SETTINGS_FILE,
  REPO_SETTINGS_MAX_BYTES,
  type LoadedConfig,
} from '@prbot/config';
import type { Runtime } from './runtime.ts';

/** Settings per (repository, commit): a commit never changes, so neither does what it says. */
const settled = new Map<string, LoadedConfig | ConfigError>();
const KEPT = 256;

/**
 * The view as the repository's `.prbot.yaml` at `commit` narrows it (docs/ARCHITECTURE.md, "Many
 * repositories"); the view itself when the file is absent. Every stage of a cycle reads the same
 * file (the cycle's base commit), so produce and the stages agree. Throws ConfigError naming the
 * file, the commit and the field (or the YAML line) when the file is malformed or widens anything.
 */
export async function settledView(rt: Runtime, commit: string): Promise<Runtime> {
  const id = `${rt.repo.name}\0${commit}`;
  let cfg = settled.get(id);
  if (cfg === undefined) {
    cfg = await narrowed(rt, commit).catch((err: unknown) => {
      if (err instanceof ConfigError) return err;
      throw err;
    });
    settled.set(id, cfg);
    while (settled.size > KEPT) settled.delete(settled.keys().next().value!);
  }
  if (cfg instanceof ConfigError) throw cfg;
  if (cfg === rt.cfg) return rt;
  // The view's own accessors (afterCycleEnd) stay its own: only `cfg` is shadowed.
  return Object.assign(Object.create(rt) as Runtime, { cfg });
}

async function narrowed(rt: Runtime, commit: string): Promise<LoadedConfig> {
  const where = `${rt.repo.name}:${REPO_SETTINGS_FILE}@${commit.slice(0, 12)}`;
  // Sized before it is read: a blob of gigabytes is refused unread.
  const size = await rt.mirror.blobSize(commit, REPO_SETTINGS_FILE);
  if (size === null) return rt.cfg;
  if (size > REPO_SETTINGS_MAX_BYTES)
    throw new ConfigError(where, [{ field: '', message: `larger than ${REPO_SETTINGS_MAX_BYTES} bytes` }]);
  const text = (await rt.mirror.readFile(commit, REPO_SETTINGS_FILE)) ?? '';
  const s = applyRepoSettings(rt.cfg, parseRepoSettings(text, where), where);
  return { ...rt.cfg, repo: s.repo, tests: s.tests, guardrails: s.guardrails, forge: { ...rt.cfg.forge, ...s.forge } };
}
