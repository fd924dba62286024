export {
  canonicalUrl,
  forRepository,
  forgeRemote,
  isLocalRepo,
  loadConfig,
  type LoadedConfig,
  parseConfig,
  repoUrl,
  resolvePath,
} from './load.ts';
export { type Config, type ConfigInput, configSchema, secretEnvNames } from './schema.ts';
export { secretValues } from './secrets.ts';
export { applyRepoSettings, parseRepoSettings, REPO_SETTINGS_FILE, REPO_SETTINGS_MAX_BYTES } from './repo-settings.ts';
export { type Repository } from './repositories.ts';
export { discoveredName, discoveredRepository } from './discover.ts';
