export { configSchema, secretEnvNames, type Config, type ConfigInput, type QueueSettings } from './schema.ts';
export { PROVIDER_PRESETS, type PresetName, type ProviderConfig } from './models.ts';
export { findConfigFile, forgeRemote, isLocalRepo, loadConfig, parseConfig, repoUrl, resolvePath, type LoadedConfig } from './load.ts';
export { GITEA_WIP_PREFIXES, isWipTitle } from './forge.ts';
