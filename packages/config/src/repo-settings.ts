import { createRequire } from 'node:module';
import { ConfigError } from '@prbot/core';
import { z } from 'zod';
import { argv, positiveInt } from './common.ts';
import type { Config } from './schema.ts';

/**
 * `.prbot.yaml` on a repository's base branch (issue 23): what a repository may say about itself.
 * Trusted the way its own CI config is (people merged it), so it may choose its PRD, its setup and
 * test commands and add guarded paths; it may only narrow what the operator set (PR limits, time,
 * memory, output, network, the package cache), and cannot name the budget, the sandbox, the forge,
 * the user tests run as, host directories or the environment at all: those keys are not in the
 * schema, so they are refused. (A repository's share of the budget is the operator's `repos[].budget`.)
 */
export const REPO_SETTINGS_FILE = '.prbot.yaml';

/** Bigger than any honest settings file; a blob over it is refused before YAML sees it. */
export const REPO_SETTINGS_MAX_BYTES = 64 * 1024;

/** A path inside the repository: relative, no `..` segment, no NUL. */
const repoPath = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith('/') && !p.includes('\0') && !p.split(/[\\/]/).includes('..'), {
    message: 'a path inside the repository (relative, no "..")',
  });

const repoSettingsSchema = z.strictObject({
  prd: repoPath.optional(),
  tests: z
    .strictObject({
      setup: z.array(argv).optional(),
      commands: z.array(argv).min(1, 'at least one test command').optional(),
      setupInputs: z.array(repoPath).optional(),
      cacheDirs: z.array(repoPath).optional(),
      timeoutMs: positiveInt.optional(),
      setupTimeoutMs: positiveInt.optional(),
      network: z.enum(['none', 'setup']).optional(),
      packageCache: z.enum(['shared', 'off']).optional(),
      envAllow: z.array(z.string()).optional(),
      tailBytes: positiveInt.optional(),
      logLines: positiveInt.optional(),
      limits: z
        .strictObject({
          memoryMb: positiveInt.optional(),
          processes: positiveInt.optional(),
          outputBytes: positiveInt.optional(),
        })
        .optional(),
    })
    .optional(),
  guardrails: z
    .strictObject({
      forbidden: z.array(z.string().min(1)).optional(),
      maxFiles: positiveInt.optional(),
      maxFileBytes: positiveInt.optional(),
      maxTotalBytes: positiveInt.optional(),
      maxShrink: z.number().min(0).max(1).optional(),
    })
    .optional(),
  limits: z.strictObject({ maxOpen: positiveInt.optional(), maxPerHour: positiveInt.optional() }).optional(),
});

export type RepoSettings = z.infer<typeof repoSettingsSchema>;

/** The operator's settings for one repository that `.prbot.yaml` may narrow. */
export type RepoOperatorSettings = Pick<Config, 'tests' | 'guardrails'> & {
  repo: { url: string; base: string; prd: string; pauseFile: string };
  forge: Pick<Config['forge'], 'maxOpen' | 'maxPerHour'>;
};

type Issue = { field: string; message: string };

/** Keys the operator alone decides: named in the refusal so the author knows where to go. */
const OPERATOR_ONLY = `not settable in ${REPO_SETTINGS_FILE} (the operator decides it in prbot.config)`;

/**
 * Parses `.prbot.yaml` as found on the base branch. `where` names it in errors (e.g.
 * `acme/api:.prbot.yaml@main`). Throws ConfigError naming the line (YAML) or the field (schema).
 */
export function parseRepoSettings(text: string, where: string): RepoSettings {
  if (Buffer.byteLength(text) > REPO_SETTINGS_MAX_BYTES) {
    throw new ConfigError(where, [{ field: '', message: `larger than ${REPO_SETTINGS_MAX_BYTES} bytes` }]);
  }
  const YAML = createRequire(import.meta.url)('yaml') as typeof import('yaml');
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      where,
      doc.errors.map((e) => ({
        field: e.linePos ? `line ${e.linePos[0].line}` : '',
        message: `YAML ${e.message.split('\n')[0]}`,
      })),
    );
  }
  const raw: unknown = doc.toJS({ maxAliasCount: 50 }) ?? {};
  const parsed = repoSettingsSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(where, parsed.error.issues.flatMap(settingsIssue));
  return parsed.data;
}

function settingsIssue(i: z.core.$ZodIssue): Issue[] {
  const at = (p: PropertyKey[]) => p.map(String).join('.');
  if (i.code === 'unrecognized_keys') return i.keys.map((k) => ({ field: at([...i.path, k]), message: OPERATOR_ONLY }));
  return [{ field: at(i.path), message: i.message }];
}

/**
 * The operator's settings narrowed by the repository's: every widening is refused (all of them,
 * each with its field named), nothing is partly applied.
 */
export function applyRepoSettings(op: RepoOperatorSettings, s: RepoSettings, where: string): RepoOperatorSettings {
  const issues: Issue[] = [];
  const atMost = (field: string, mine: number | undefined, theirs: number): number => {
    if (mine === undefined) return theirs;
    if (mine > theirs) issues.push({ field, message: `${mine} would widen the operator's ${theirs}; ${NARROW_ONLY}` });
    return Math.min(mine, theirs);
  };
  const t = s.tests ?? {};
  const tests = {
    ...op.tests,
    setup: t.setup ?? op.tests.setup,
    commands: t.commands ?? op.tests.commands,
    ...((t.setupInputs ?? op.tests.setupInputs) !== undefined && {
      setupInputs: t.setupInputs ?? op.tests.setupInputs,
    }),
    cacheDirs: t.cacheDirs ?? op.tests.cacheDirs,
    timeoutMs: atMost('tests.timeoutMs', t.timeoutMs, op.tests.timeoutMs),
    setupTimeoutMs: atMost('tests.setupTimeoutMs', t.setupTimeoutMs, op.tests.setupTimeoutMs),
    tailBytes: atMost('tests.tailBytes', t.tailBytes, op.tests.tailBytes),
    logLines: atMost('tests.logLines', t.logLines, op.tests.logLines),
    network: narrowEnum('tests.network', t.network, op.tests.network, ['none', 'setup'], issues),
    packageCache: narrowEnum('tests.packageCache', t.packageCache, op.tests.packageCache, ['off', 'shared'], issues),
    envAllow: subset('tests.envAllow', t.envAllow, op.tests.envAllow, issues),
    limits: {
      ...op.tests.limits,
      memoryMb: atMost('tests.limits.memoryMb', t.limits?.memoryMb, op.tests.limits.memoryMb),
      processes: atMost('tests.limits.processes', t.limits?.processes, op.tests.limits.processes),
      outputBytes: atMost('tests.limits.outputBytes', t.limits?.outputBytes, op.tests.limits.outputBytes),
    },
  };
  const g = s.guardrails ?? {};
  const guardrails = {
    ...op.guardrails,
    // Added to the operator's list, never in place of it.
    forbidden: [...new Set([...op.guardrails.forbidden, ...(g.forbidden ?? [])])],
    maxFiles: atMost('guardrails.maxFiles', g.maxFiles, op.guardrails.maxFiles),
    maxFileBytes: atMost('guardrails.maxFileBytes', g.maxFileBytes, op.guardrails.maxFileBytes),
    maxTotalBytes: atMost('guardrails.maxTotalBytes', g.maxTotalBytes, op.guardrails.maxTotalBytes),
    maxShrink: atMost('guardrails.maxShrink', g.maxShrink, op.guardrails.maxShrink),
  };
  const forge = {
    ...op.forge,
    maxOpen: atMost('limits.maxOpen', s.limits?.maxOpen, op.forge.maxOpen),
    maxPerHour: atMost('limits.maxPerHour', s.limits?.maxPerHour, op.forge.maxPerHour),
  };
  if (issues.length > 0) throw new ConfigError(where, issues);
  return { repo: { ...op.repo, prd: s.prd ?? op.repo.prd }, tests, guardrails, forge };
}

const NARROW_ONLY = 'a repository may narrow what the operator set, never widen it';

/** `order` runs from narrowest to widest. */
function narrowEnum<T extends string>(field: string, mine: T | undefined, theirs: T, order: T[], issues: Issue[]): T {
  if (mine === undefined) return theirs;
  if (order.indexOf(mine) > order.indexOf(theirs)) {
    issues.push({ field, message: `"${mine}" would widen the operator's "${theirs}"; ${NARROW_ONLY}` });
    return theirs;
  }
  return mine;
}

function subset(field: string, mine: string[] | undefined, theirs: string[], issues: Issue[]): string[] {
  if (mine === undefined) return theirs;
  const extra = mine.filter((n) => !theirs.includes(n));
  if (extra.length > 0) {
    issues.push({ field, message: `${extra.join(', ')} not in the operator's list; ${NARROW_ONLY}` });
  }
  return mine.filter((n) => theirs.includes(n));
}
