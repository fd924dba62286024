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
export { type Repository } from './repositories.ts';
