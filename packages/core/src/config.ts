import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { ConfigError } from './errors/index.ts';

const argv = z.array(z.string().min(1)).min(1, 'an argv array needs at least the program name');
const positiveInt = z.number().int().positive();

const backoffSchema = z.object({
  type: z.enum(['exponential', 'fixed']).default('exponential'),
  delay: z.number().int().min(0).default(2000),
  jitter: z.number().min(0).max(1).default(0.5),
});

/** Per-queue policy; each queue gets its own defaults (see `queues` below). */
function queueSettings(d: { concurrency: number; attempts: number; delay: number; limiter?: { max: number; duration: number } }) {
  return z
    .object({
      concurrency: positiveInt.max(256).default(d.concurrency),
      attempts: positiveInt.max(100).default(d.attempts),
      backoff: backoffSchema.prefault({ delay: d.delay }),
      // null switches the limiter off for this queue.
      limiter: z.object({ max: positiveInt, duration: positiveInt }).nullable().default(d.limiter ?? null),
    })
    .prefault({});
}

/**
 * Presets for the providers prbot is used with, so a user supplies only the key (in the
 * environment variable the preset names). OpenCode Zen's base URL comes from third-party
 * reports and is unverified: override `baseUrl` if it answers 404.
 */
export const PROVIDER_PRESETS = {
  ollama_cloud: { baseUrl: 'https://ollama.com/v1', keyEnv: 'OLLAMA_API_KEY', headers: {}, structuredOutput: 'json_schema' },
  openrouter: { baseUrl: 'https://openrouter.ai/api/v1', keyEnv: 'OPENROUTER_API_KEY', headers: { 'X-Title': 'prbot' }, structuredOutput: 'json_schema' },
  opencode: { baseUrl: 'https://opencode.ai/zen/v1', keyEnv: 'OPENCODE_API_KEY', headers: {}, structuredOutput: 'json_object' },
  gateway: { baseUrl: 'http://localhost:3100/v1', keyEnv: undefined, headers: {}, structuredOutput: 'json_object' },
} as const satisfies Record<string, { baseUrl: string; keyEnv: string | undefined; headers: Record<string, string>; structuredOutput: string }>;
export type PresetName = keyof typeof PROVIDER_PRESETS;

const structuredOutput = z.enum(['json_schema', 'json_object', 'none']);
const openaiProvider = z.object({
  kind: z.literal('openai'),
  baseUrl: z.url(),
  /** The NAME of the environment variable holding the key; the key itself never sits in config. */
  keyEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name').optional(),
  headers: z.record(z.string(), z.string()).default({}),
  /** How to ask for JSON: a JSON schema where the provider takes one, json_object otherwise. */
  structuredOutput: structuredOutput.default('json_schema'),
});
const replayProvider = z.object({
  kind: z.literal('replay'),
  cassette: z.string().min(1),
});
const presetProvider = z
  .object({
    preset: z.enum(Object.keys(PROVIDER_PRESETS) as [PresetName, ...PresetName[]]),
    baseUrl: z.url().optional(),
    keyEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name').optional(),
    headers: z.record(z.string(), z.string()).optional(),
    structuredOutput: structuredOutput.optional(),
  })
  .strict()
  .transform((p) => presetToProvider(p.preset, p));
const providerSchema = z.union([z.discriminatedUnion('kind', [openaiProvider, replayProvider]), presetProvider]);
export type ProviderConfig = z.infer<typeof openaiProvider> | z.infer<typeof replayProvider>;

function presetToProvider(name: PresetName, o: Partial<Omit<z.infer<typeof openaiProvider>, 'kind'>> = {}): z.infer<typeof openaiProvider> {
  const p = PROVIDER_PRESETS[name];
  return {
    kind: 'openai',
    baseUrl: o.baseUrl ?? p.baseUrl,
    keyEnv: o.keyEnv ?? p.keyEnv,
    headers: { ...p.headers, ...o.headers },
    structuredOutput: o.structuredOutput ?? (p.structuredOutput as z.infer<typeof structuredOutput>),
  };
}

const envName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name');
const forgeCommon = {
  branchPrefix: z.string().regex(/^[A-Za-z0-9._/-]*$/).default('bot/'),
  /** Gitea/Forgejo mark a PR as draft by this title prefix (server setting WORK_IN_PROGRESS_PREFIXES). */
  draftPrefix: z.string().default('WIP: '),
  labels: z.array(z.string().min(1)).default(['prbot']),
  /** At most this many bot PRs open at once; a cycle over it waits (delayed). */
  maxOpen: positiveInt.default(5),
  /** At most this many new bot PRs per rolling hour. */
  maxPerHour: positiveInt.default(10),
  /** How long a cycle over the open-PR limit waits before it looks again. */
  limitRetryMs: positiveInt.default(5 * 60_000),
  timeoutMs: positiveInt.default(30_000),
};
/** A remote URL with credentials in it would leak the token into logs and `git remote -v`. */
const remoteUrl = z.string().refine((u) => !/^[a-z]+:\/\/[^/@]+@/i.test(u) || /^ssh:\/\/[^:@/]+@/i.test(u), 'no credentials in the URL; the token goes in the environment variable named by tokenEnv');
const forgeSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('local'), remote: z.string().optional(), prDir: z.string().default('data/_bot/prs'), ...forgeCommon }),
  z.object({
    kind: z.enum(['gitea', 'forgejo']),
    baseUrl: z.url(),
    owner: z.string().min(1),
    repo: z.string().min(1),
    tokenEnv: envName.default('GITEA_TOKEN'),
    /** Push URL; defaults to `<baseUrl>/<owner>/<repo>.git`. SSH URLs work too. */
    remote: remoteUrl.optional(),
    ...forgeCommon,
  }),
  z.object({
    kind: z.literal('github'),
    /** https://api.github.com, or https://<host>/api/v3 for GitHub Enterprise. */
    apiUrl: z.url().default('https://api.github.com'),
    owner: z.string().min(1),
    repo: z.string().min(1),
    tokenEnv: envName.default('GITHUB_TOKEN'),
    remote: remoteUrl.optional(),
    ...forgeCommon,
  }),
]);

const rung = z.string().regex(/^[^/\s]+\/\S+$/, 'a rung is "provider/model"');

export const configSchema = z
  .object({
    redis: z
      .object({
        url: z.string().regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL').default('redis://127.0.0.1:6379'),
        prefix: z
          .string()
          .regex(/^\{[A-Za-z0-9_.-]+\}$/, 'a hash tag such as "{prbot}" so every key shares one Cluster slot')
          .default('{prbot}'),
        /** Redis Cluster: seed node URLs (redis://host:port); when set, `url` is not used. */
        cluster: z.array(z.string().regex(/^rediss?:\/\//, 'a redis:// URL')).optional(),
      })
      .prefault({}),
    repo: z.object({
      /** A local path (absolute or relative to the config file) or a clone URL. */
      url: z.string().min(1),
      base: z.string().min(1).default('main'),
      prd: z.string().min(1).default('docs/PRD.md'),
      pauseFile: z.string().min(1).default('bot.paused'),
    }),
    workdir: z.string().default('data/_work'),
    records: z.object({ dir: z.string().default('data/_bot/cycles') }).prefault({}),
    observer: z
      .object({ url: z.url().optional(), timeoutMs: positiveInt.default(10_000) })
      .prefault({}),
    budget: z
      .object({
        callsPerDay: positiveInt.default(20),
        tokensPerDay: positiveInt.default(160_000),
        onExhausted: z.enum(['skip', 'defer']).default('skip'),
        perCycle: z
          .object({ calls: positiveInt.default(4), tokens: positiveInt.default(60_000) })
          .prefault({}),
      })
      .prefault({}),
    models: z.object({
      providers: z.record(z.string().regex(/^[a-z0-9_-]+$/i), providerSchema).default({}),
      propose: z.array(rung).min(1, 'the propose ladder needs at least one rung'),
      escalation: z.array(rung).default([]),
      /** What `pnpm probe` checks; default: every rung of propose and escalation. */
      probe: z.array(rung).optional(),
      /** Rungs the ladder never picks, with the reason (e.g. "HTTP 500 upstream since 2026-11-20"). */
      disabled: z.record(rung, z.string().min(1)).default({}),
      escalateAfter: positiveInt.default(2),
      maxTokens: positiveInt.default(4096),
      temperature: z.number().min(0).max(2).default(0.2),
      timeoutMs: positiveInt.default(120_000),
      maxAnswerBytes: positiveInt.default(512 * 1024),
    })
      .transform((m) => {
        // A rung may name a preset directly ("openrouter/x-ai/grok-4.1-fast") without a providers entry.
        const providers: Record<string, ProviderConfig> = { ...m.providers };
        for (const r of [...m.propose, ...m.escalation, ...(m.probe ?? [])]) {
          const name = r.split('/')[0]!;
          if (!providers[name] && name in PROVIDER_PRESETS) providers[name] = presetToProvider(name as PresetName);
        }
        return { ...m, providers };
      })
      .superRefine((m, ctx) => {
        for (const [site, ladder] of [['propose', m.propose], ['escalation', m.escalation], ['probe', m.probe ?? []]] as const) {
          ladder.forEach((r, i) => {
            const provider = r.split('/')[0]!;
            if (!m.providers[provider]) {
              ctx.addIssue({ code: 'custom', path: [site, i], message: `unknown provider "${provider}" (presets: ${Object.keys(PROVIDER_PRESETS).join(', ')})` });
            }
          });
        }
        if (m.propose.every((r) => m.disabled[r])) ctx.addIssue({ code: 'custom', path: ['propose'], message: 'every rung of the propose ladder is disabled' });
      }),
    queues: z
      .object({
        // Provider limits are strict sliding windows; BullMQ's fixed window can let ~2x through
        // at a window edge (measured), hence half of a typical 60 rpm.
        propose: queueSettings({ concurrency: 2, attempts: 3, delay: 5000, limiter: { max: 30, duration: 60_000 } }),
        apply: queueSettings({ concurrency: 4, attempts: 3, delay: 1000 }),
        test: queueSettings({ concurrency: 1, attempts: 2, delay: 5000 }),
        pr: queueSettings({ concurrency: 1, attempts: 5, delay: 10_000, limiter: { max: 10, duration: 60_000 } }),
        events: queueSettings({ concurrency: 2, attempts: 8, delay: 2000 }),
        produce: queueSettings({ concurrency: 1, attempts: 3, delay: 30_000 }),
      })
      .prefault({}),
    tests: z
      .object({
        setup: z.array(argv).default([]),
        commands: z.array(argv).min(1, 'at least one test command').default([['npm', 'test']]),
        timeoutMs: positiveInt.default(10 * 60_000),
        setupTimeoutMs: positiveInt.default(10 * 60_000),
        /** Names copied from the worker's environment; everything else is withheld. */
        envAllow: z.array(z.string()).default(['PATH', 'LANG', 'LC_ALL', 'TZ', 'TERM']),
        /** Fixed, non-secret variables for the tests. */
        env: z.record(z.string(), z.string()).default({}),
        /** Kept between cycles in a slot worktree so the second cycle is not a cold build. */
        cacheDirs: z.array(z.string().min(1)).default(['node_modules', 'target', '.venv']),
        tailBytes: positiveInt.default(8192),
        logLines: positiveInt.default(500),
        /**
         * The user test commands run as. "auto": when the worker runs as root, a uid of the run's
         * own (61000-64999, group nogroup, locked machine-wide), so model-written code cannot read
         * the worker's secrets from /proc/<parent>/environ and whatever it leaves running is
         * found by uid; otherwise the worker's own user. null: always the worker's user.
         */
        runAs: z.union([z.literal('auto'), z.null(), z.object({ uid: z.number().int().min(0), gid: z.number().int().min(0) })]).default('auto'),
      })
      .prefault({}),
    forge: forgeSchema.prefault({ kind: 'local' }),
    guardrails: z
      .object({
        /** Extra glob patterns to refuse; they add to the built-in list, never replace it. */
        forbidden: z.array(z.string().min(1)).default([]),
        maxFiles: positiveInt.default(20),
        maxFileBytes: positiveInt.default(200_000),
        maxTotalBytes: positiveInt.default(500_000),
      })
      .prefault({}),
    policy: z
      .object({
        maxGapsPerRun: positiveInt.default(10),
        maxConsecutiveFailures: positiveInt.default(5),
        /** A human closing a bot PR unmerged is a "no": retry such a gap only when this is true. */
        retryClosedPRs: z.boolean().default(false),
      })
      .prefault({}),
    bot: z
      .object({ name: z.string().default('prbot'), email: z.string().default('prbot@localhost') })
      .prefault({}),
    worker: z
      .object({
        shutdownGraceMs: positiveInt.default(30_000),
        /** BullMQ's job lock; a killed worker's job is taken up again once it lapses. */
        lockDurationMs: positiveInt.default(30_000),
        stalledIntervalMs: positiveInt.default(30_000),
        /** How often a job may be found stalled before it fails (and its cycle records the stage's outcome). */
        maxStalledCount: z.number().int().min(0).default(1),
      })
      .prefault({}),
    dashboard: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(3000),
        /** Hides pause/resume and Bull Board's actions (its write endpoints answer 405). */
        readOnly: z.boolean().default(false),
        /** Set when the dashboard is served over HTTPS (cookies then carry `Secure`). */
        secureCookies: z.boolean().default(false),
      })
      .prefault({}),
    dryRun: z.boolean().default(false),
    log: z.object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') }).prefault({}),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    // A secret on the allow-list would hand it to model-written test code.
    const secretNames = new Set(secretEnvNames(cfg));
    cfg.tests.envAllow.forEach((name, i) => {
      if (secretNames.has(name) || /KEY|TOKEN|SECRET|PASSWORD/i.test(name)) {
        ctx.addIssue({ code: 'custom', path: ['tests', 'envAllow', i], message: `"${name}" looks like a secret; tests never see secrets` });
      }
    });
    for (const [name, p] of Object.entries(cfg.models.providers)) {
      if (p.kind !== 'openai') continue;
      for (const h of Object.keys(p.headers)) {
        if (/^authorization$/i.test(h)) {
          ctx.addIssue({ code: 'custom', path: ['models', 'providers', name, 'headers', h], message: 'put the key in the environment variable named by keyEnv, not in config' });
        }
      }
    }
  });

export type Config = z.infer<typeof configSchema>;

/** The environment variables that hold secrets: providers' keys and the forge token. */
export function secretEnvNames(cfg: Pick<Config, 'models' | 'forge'>): string[] {
  return [
    ...Object.values(cfg.models.providers).flatMap((p) => (p.kind === 'openai' && p.keyEnv ? [p.keyEnv] : [])),
    ...(cfg.forge.kind === 'local' ? [] : [cfg.forge.tokenEnv]),
  ];
}
export type ConfigInput = z.input<typeof configSchema>;
export type QueueSettings = Config['queues']['propose'];

/** A loaded config plus where it came from; relative paths are resolved against `dir`. */
export interface LoadedConfig extends Config {
  file: string;
  dir: string;
}

const CANDIDATES = ['prbot.config.json', 'prbot.config.yaml', 'prbot.config.yml'];

export function findConfigFile(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  if (env.PRBOT_CONFIG) return path.resolve(cwd, env.PRBOT_CONFIG);
  const found = CANDIDATES.map((c) => path.join(cwd, c)).find((p) => existsSync(p));
  if (!found) {
    throw new ConfigError(path.join(cwd, CANDIDATES[0]!), [
      { field: '', message: `no config file found (looked for ${CANDIDATES.join(', ')}; or set PRBOT_CONFIG)` },
    ]);
  }
  return found;
}

export function loadConfig(given?: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const file = given ?? findConfigFile(env);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [{ field: '', message: `cannot read: ${(err as Error).message}` }]);
  }
  return parseConfig(parseConfigText(file, text), file, env);
}

function parseConfigText(file: string, text: string): unknown {
  if (file.endsWith('.json')) {
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new ConfigError(file, [{ field: '', message: `not valid JSON: ${(err as Error).message}` }]);
    }
  }
  const doc = YAML.parseDocument(text);
  if (doc.errors.length > 0) {
    throw new ConfigError(file, doc.errors.map((e) => ({ field: '', message: `YAML ${e.message.split('\n')[0]}` })));
  }
  return doc.toJS();
}

/** Validates a config object; `file` only names the source in errors and anchors relative paths. */
export function parseConfig(raw: unknown, file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const withEnv = applyEnvOverrides(raw, env);
  const result = configSchema.safeParse(withEnv);
  if (!result.success) {
    throw new ConfigError(
      file,
      result.error.issues.map((i) => ({ field: i.path.map(String).join('.'), message: i.message })),
    );
  }
  const dir = path.dirname(path.resolve(file));
  return { ...result.data, file: path.resolve(file), dir };
}

/** REDIS_URL lets CI, the demo and containers point at a server without editing the file. */
function applyEnvOverrides(raw: unknown, env: NodeJS.ProcessEnv): unknown {
  if (!env.REDIS_URL || typeof raw !== 'object' || raw === null) return raw;
  const r = raw as Record<string, unknown>;
  const redis = typeof r.redis === 'object' && r.redis !== null ? r.redis : {};
  return { ...r, redis: { ...redis, url: env.REDIS_URL } };
}

/** Resolves a path from config against the config file's directory. */
export function resolvePath(cfg: Pick<LoadedConfig, 'dir'>, p: string): string {
  return path.resolve(cfg.dir, p);
}

/** True when repo.url names a directory on this machine rather than a remote URL. */
export function isLocalRepo(url: string): boolean {
  return !/^[a-z][a-z0-9+.-]*:\/\//i.test(url) && !/^[^/]+@[^/]+:/.test(url);
}

export function repoUrl(cfg: LoadedConfig): string {
  return isLocalRepo(cfg.repo.url) ? resolvePath(cfg, cfg.repo.url) : cfg.repo.url;
}

export function forgeRemote(cfg: LoadedConfig): string {
  const f = cfg.forge;
  const r =
    f.remote ??
    (f.kind === 'local' ? cfg.repo.url : f.kind === 'github' ? `https://${new URL(f.apiUrl).host.replace(/^api\./, '')}/${f.owner}/${f.repo}.git` : `${f.baseUrl.replace(/\/+$/, '')}/${f.owner}/${f.repo}.git`);
  return isLocalRepo(r) ? resolvePath(cfg, r) : r;
}
