import { z } from 'zod';
import { envName, positiveInt } from './common.ts';

/**
 * Presets for the providers prbot is used with, so a user supplies only the key (in the
 * environment variable the preset names). OpenCode Zen's base URL comes from third-party
 * reports and is unverified: override `baseUrl` if it answers 404.
 */
const PROVIDER_PRESETS = {
  ollama_cloud: {
    baseUrl: 'https://ollama.com/v1',
    keyEnv: 'OLLAMA_API_KEY',
    headers: {},
    structuredOutput: 'json_schema',
  },
  openrouter: {
    baseUrl: 'https://openrouter.ai/api/v1',
    keyEnv: 'OPENROUTER_API_KEY',
    headers: { 'X-Title': 'prbot' },
    structuredOutput: 'json_schema',
  },
  opencode: {
    baseUrl: 'https://opencode.ai/zen/v1',
    keyEnv: 'OPENCODE_API_KEY',
    headers: {},
    structuredOutput: 'json_object',
  },
  gateway: { baseUrl: 'http://localhost:3100/v1', keyEnv: undefined, headers: {}, structuredOutput: 'json_object' },
} as const satisfies Record<
  string,
  { baseUrl: string; keyEnv: string | undefined; headers: Record<string, string>; structuredOutput: string }
>;
type PresetName = keyof typeof PROVIDER_PRESETS;

const structuredOutput = z.enum(['json_schema', 'json_object', 'none']);
const openaiProvider = z.strictObject({
  kind: z.literal('openai'),
  baseUrl: z.url(),
  /** The NAME of the environment variable holding the key; the key itself never sits in config. */
  keyEnv: envName.optional(),
  headers: z.record(z.string(), z.string()).default({}),
  /** How to ask for JSON: a JSON schema where the provider takes one, json_object otherwise. */
  structuredOutput: structuredOutput.default('json_schema'),
});
const replayProvider = z.strictObject({
  kind: z.literal('replay'),
  cassette: z.string().min(1),
});
const presetProvider = z
  .strictObject({
    preset: z.enum(Object.keys(PROVIDER_PRESETS) as [PresetName, ...PresetName[]]),
    baseUrl: z.url().optional(),
    keyEnv: envName.optional(),
    headers: z.record(z.string(), z.string()).optional(),
    structuredOutput: structuredOutput.optional(),
  })
  .strict()
  .transform((p) => presetToProvider(p.preset, p));
const providerSchema = z.union([z.discriminatedUnion('kind', [openaiProvider, replayProvider]), presetProvider]);
type ProviderConfig = z.infer<typeof openaiProvider> | z.infer<typeof replayProvider>;

function presetToProvider(
  name: PresetName,
  o: Partial<Omit<z.infer<typeof openaiProvider>, 'kind'>> = {},
): z.infer<typeof openaiProvider> {
  const p = PROVIDER_PRESETS[name];
  return {
    kind: 'openai',
    baseUrl: o.baseUrl ?? p.baseUrl,
    keyEnv: o.keyEnv ?? p.keyEnv,
    headers: { ...p.headers, ...o.headers },
    structuredOutput: o.structuredOutput ?? (p.structuredOutput as z.infer<typeof structuredOutput>),
  };
}

const rung = z.string().regex(/^[^/\s]+\/\S+$/, 'a rung is "provider/model"');

export const modelsSection = z
  .strictObject({
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
    /**
     * What the propose prompt may show of the repository, in tokens (counted as 3 bytes each):
     * related files whole up to maxFileTokens each (larger ones as numbered windows), a map of
     * paths and symbols in mapTokens (taken from maxTokens).
     */
    context: z
      .object({
        maxTokens: positiveInt.default(12_000),
        mapTokens: positiveInt.default(2_000),
        maxFileTokens: positiveInt.default(4_000),
        maxFiles: positiveInt.default(10),
      })
      .refine((c) => c.mapTokens < c.maxTokens, {
        message: 'mapTokens must be less than maxTokens',
        path: ['mapTokens'],
      })
      .prefault({}),
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
    for (const [site, ladder] of [
      ['propose', m.propose],
      ['escalation', m.escalation],
      ['probe', m.probe ?? []],
    ] as const) {
      ladder.forEach((r, i) => {
        const provider = r.split('/')[0]!;
        if (!m.providers[provider]) {
          ctx.addIssue({
            code: 'custom',
            path: [site, i],
            message: `unknown provider "${provider}" (presets: ${Object.keys(PROVIDER_PRESETS).join(', ')})`,
          });
        }
      });
    }
    if (m.propose.every((r) => m.disabled[r]))
      ctx.addIssue({ code: 'custom', path: ['propose'], message: 'every rung of the propose ladder is disabled' });
  });
