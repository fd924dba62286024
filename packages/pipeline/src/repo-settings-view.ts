import { ConfigError } from '@prbot/core';
import {
  applyRepoSettings,
  parseRepoSettings,
  REPO_SETTINGS_FILE,
  REPO_SETTINGS_MAX_BYTES,
  type LoadedConfig,
} from '@prbot/config';
import type { Runtime } from './runtime.ts';

type Settings = ReturnType<typeof parseRepoSettings>;

/**
 * What a repository's file says at a commit (null: no file), per repository and commit: a commit
 * never changes, so neither does its file. The settings are cached, not a config built from them:
 * each caller's own config (a test or a caller may lay fields over a view) is narrowed afresh.
 */
const read = new Map<string, { settings: Settings | null; where: string } | ConfigError>();
const KEPT = 256;

/**
 * The view as the repository's `.prbot.yaml` at `commit` narrows it (docs/ARCHITECTURE.md, "Many
 * repositories"); the view itself when the file is absent. Every stage of a cycle reads the same
 * file (the cycle's base commit), so produce and the stages agree. Throws ConfigError naming the
 * file, the commit and the field (or the YAML line) when the file is malformed or widens anything.
 */
export async function settledView(rt: Runtime, commit: string): Promise<Runtime> {
  const id = `${rt.repo.name}\0${commit}`;
  let got = read.get(id);
  if (got === undefined) {
    got = await readSettings(rt, commit).catch((err: unknown) => {
      if (err instanceof ConfigError) return err;
      throw err;
    });
    read.set(id, got);
    while (read.size > KEPT) read.delete(read.keys().next().value!);
  }
  if (got instanceof ConfigError) throw got;
  if (got.settings === null) return rt;
  const s = applyRepoSettings(rt.cfg, got.settings, got.where);
  const cfg: LoadedConfig = {
    ...rt.cfg,
    repo: s.repo,
    tests: s.tests,
    guardrails: s.guardrails,
    forge: { ...rt.cfg.forge, ...s.forge },
  };
  // The view's own accessors (afterCycleEnd) stay its own: only `cfg` is shadowed.
  return Object.assign(Object.create(rt) as Runtime, { cfg });
}

async function readSettings(rt: Runtime, commit: string): Promise<{ settings: Settings | null; where: string }> {
  const where = `${rt.repo.name}:${REPO_SETTINGS_FILE}@${commit.slice(0, 12)}`;
  // Sized before it is read: a blob of gigabytes is refused unread.
  const size = await rt.mirror.blobSize(commit, REPO_SETTINGS_FILE);
  if (size === null) return { settings: null, where };
  if (size > REPO_SETTINGS_MAX_BYTES)
    throw new ConfigError(where, [{ field: '', message: `larger than ${REPO_SETTINGS_MAX_BYTES} bytes` }]);
  const text = (await rt.mirror.readFile(commit, REPO_SETTINGS_FILE)) ?? '';
  return { settings: parseRepoSettings(text, where), where };
}
