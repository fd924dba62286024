import { describe, expect, it } from 'vitest';
import { ConfigError } from '@prbot/core';
import { parseConfig } from './load.ts';
import {
  applyRepoSettings,
  parseRepoSettings,
  REPO_SETTINGS_MAX_BYTES,
  type RepoOperatorSettings,
} from './repo-settings.ts';

const WHERE = 'acme/api:.prbot.yaml@main';

/** The operator's settings: a real parsed config, so the defaults are the shipped ones. */
function operator(): RepoOperatorSettings {
  const cfg = parseConfig(
    {
      repo: { url: '/srv/api.git' },
      models: { providers: { local: { kind: 'openai', baseUrl: 'http://127.0.0.1:3100/v1' } }, propose: ['local/m'] },
      tests: { network: 'none', envAllow: ['PATH', 'LANG'], packageCache: 'shared' },
      guardrails: { forbidden: ['secrets/**'] },
    },
    '/x/prbot.config.json',
    {},
  );
  return { repo: cfg.repo!, tests: cfg.tests, guardrails: cfg.guardrails, forge: cfg.forge };
}

function refusal(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

/**
 * Every field a repository may narrow, written out (not derived from the schema), with a value
 * above the operator's (refused) and one below it (accepted: the control that shows the refusal is
 * about widening, not about the field).
 */
const WIDENINGS: {
  field: string;
  yaml: (v: number | string) => string;
  above: number | string;
  below: number | string;
  /** The operator's setting this row starts from, when the default is already the widest. */
  given?: (o: RepoOperatorSettings) => void;
}[] = [
  { field: 'tests.timeoutMs', yaml: (v) => `tests:\n  timeoutMs: ${v}`, above: 600_001, below: 1000 },
  { field: 'tests.setupTimeoutMs', yaml: (v) => `tests:\n  setupTimeoutMs: ${v}`, above: 600_001, below: 1000 },
  { field: 'tests.tailBytes', yaml: (v) => `tests:\n  tailBytes: ${v}`, above: 8193, below: 100 },
  { field: 'tests.logLines', yaml: (v) => `tests:\n  logLines: ${v}`, above: 501, below: 10 },
  { field: 'tests.network', yaml: (v) => `tests:\n  network: ${v}`, above: 'setup', below: 'none' },
  {
    field: 'tests.packageCache',
    yaml: (v) => `tests:\n  packageCache: ${v}`,
    above: 'shared',
    below: 'off',
    given: (o) => (o.tests.packageCache = 'off'),
  },
  { field: 'tests.envAllow', yaml: (v) => `tests:\n  envAllow: [${v}]`, above: 'PATH, HOME', below: 'PATH' },
  { field: 'tests.limits.memoryMb', yaml: (v) => `tests:\n  limits:\n    memoryMb: ${v}`, above: 4097, below: 512 },
  { field: 'tests.limits.processes', yaml: (v) => `tests:\n  limits:\n    processes: ${v}`, above: 513, below: 64 },
  {
    field: 'tests.limits.outputBytes',
    yaml: (v) => `tests:\n  limits:\n    outputBytes: ${v}`,
    above: 67_108_865,
    below: 1024,
  },
  { field: 'guardrails.maxFiles', yaml: (v) => `guardrails:\n  maxFiles: ${v}`, above: 21, below: 3 },
  { field: 'guardrails.maxFileBytes', yaml: (v) => `guardrails:\n  maxFileBytes: ${v}`, above: 200_001, below: 5000 },
  { field: 'guardrails.maxTotalBytes', yaml: (v) => `guardrails:\n  maxTotalBytes: ${v}`, above: 500_001, below: 5000 },
  { field: 'guardrails.maxShrink', yaml: (v) => `guardrails:\n  maxShrink: ${v}`, above: 0.31, below: 0.1 },
  { field: 'limits.maxOpen', yaml: (v) => `limits:\n  maxOpen: ${v}`, above: 6, below: 1 },
  { field: 'limits.maxPerHour', yaml: (v) => `limits:\n  maxPerHour: ${v}`, above: 11, below: 2 },
];

describe('.prbot.yaml: a repository narrows, never widens', () => {
  for (const w of WIDENINGS) {
    it(`refuses a wider ${w.field}, naming it; accepts a narrower one`, () => {
      const op = operator();
      w.given?.(op);
      const err = refusal(() => applyRepoSettings(op, parseRepoSettings(w.yaml(w.above), WHERE), WHERE));
      expect(err.file).toBe(WHERE);
      expect(err.issues.map((i) => i.field)).toEqual([w.field]);
      expect(err.issues[0]!.message).toMatch(/widen/);
      const narrowed = applyRepoSettings(op, parseRepoSettings(w.yaml(w.below), WHERE), WHERE);
      const value = w.field
        .replace(/^limits\./, 'forge.')
        .split('.')
        .reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], narrowed);
      expect(value).toEqual(typeof w.below === 'string' && w.field.endsWith('envAllow') ? [w.below] : w.below);
    });
  }

  it('names every widening of one file, and applies none of it', () => {
    const err = refusal(() =>
      applyRepoSettings(
        operator(),
        parseRepoSettings('tests:\n  timeoutMs: 9999999\n  network: setup\nlimits:\n  maxOpen: 1000\n', WHERE),
        WHERE,
      ),
    );
    expect(err.issues.map((i) => i.field).sort()).toEqual(['limits.maxOpen', 'tests.network', 'tests.timeoutMs']);
  });

  it('refuses what only the operator decides, naming the key', () => {
    for (const [yaml, field] of [
      ['forge:\n  kind: local', 'forge'],
      ['tests:\n  sandbox: "off"', 'tests.sandbox'],
      ['tests:\n  runAs: null', 'tests.runAs'],
      ['tests:\n  toolDirs: [/root]', 'tests.toolDirs'],
      ['tests:\n  env:\n    LD_PRELOAD: /tmp/x.so', 'tests.env'],
      ['redis:\n  url: redis://evil', 'redis'],
      ['models:\n  propose: [x/y]', 'models'],
      ['budget:\n  callsPerDay: 1', 'budget'],
      ['guardrails:\n  replace: true', 'guardrails.replace'],
    ] as const) {
      const err = refusal(() => parseRepoSettings(yaml, WHERE));
      expect(
        err.issues.map((i) => i.field),
        yaml,
      ).toEqual([field]);
      expect(err.issues[0]!.message).toMatch(/operator/);
    }
  });

  it('adds guarded paths to the operator list, never in place of it', () => {
    const s = applyRepoSettings(
      operator(),
      parseRepoSettings('guardrails:\n  forbidden: ["migrations/**"]', WHERE),
      WHERE,
    );
    expect(s.guardrails.forbidden).toEqual(['secrets/**', 'migrations/**']);
  });

  it('takes the PRD path and the commands as the repository says', () => {
    const s = applyRepoSettings(
      operator(),
      parseRepoSettings(
        'prd: docs/GAPS.md\ntests:\n  setup: [[pip, install, -e, .]]\n  commands: [[pytest, -q]]\n',
        WHERE,
      ),
      WHERE,
    );
    expect(s.repo.prd).toBe('docs/GAPS.md');
    expect(s.tests.setup).toEqual([['pip', 'install', '-e', '.']]);
    expect(s.tests.commands).toEqual([['pytest', '-q']]);
    // Untouched fields keep the operator's values.
    expect(s.tests.timeoutMs).toBe(operator().tests.timeoutMs);
    expect(s.tests.network).toBe('none');
  });

  it('refuses paths that leave the repository', () => {
    for (const [yaml, field] of [
      ['prd: ../../etc/passwd', 'prd'],
      ['prd: /etc/passwd', 'prd'],
      ['tests:\n  cacheDirs: [node_modules, ../../home]', 'tests.cacheDirs.1'],
      ['tests:\n  setupInputs: ["..\\\\x"]', 'tests.setupInputs.0'],
    ] as const) {
      const err = refusal(() => parseRepoSettings(yaml, WHERE));
      expect(
        err.issues.map((i) => i.field),
        yaml,
      ).toEqual([field]);
    }
    // Control: the same fields with paths inside the repository are taken.
    expect(parseRepoSettings('prd: docs/x..y.md\ntests:\n  cacheDirs: [a/b]', WHERE).prd).toBe('docs/x..y.md');
  });

  it('names the line of malformed YAML', () => {
    const err = refusal(() => parseRepoSettings('tests:\n  commands: [[npm, test]\nprd: x\n', WHERE));
    expect(err.file).toBe(WHERE);
    expect(err.issues[0]!.field).toMatch(/^line \d+$/);
    expect(err.message).toContain(WHERE);
  });

  it('refuses a duplicate key rather than letting the last one win', () => {
    const err = refusal(() => parseRepoSettings('prd: a.md\nprd: b.md\n', WHERE));
    expect(err.issues[0]!.message).toMatch(/unique|duplicate/i);
  });

  it('refuses a file that is not a mapping, and an oversized one, before reading it', () => {
    expect(refusal(() => parseRepoSettings('- a\n- b\n', WHERE)).issues[0]!.field).toBe('');
    const big = `prd: a.md\n# ${'x'.repeat(REPO_SETTINGS_MAX_BYTES)}\n`;
    expect(refusal(() => parseRepoSettings(big, WHERE)).issues[0]!.message).toMatch(/larger than/);
  });

  it('refuses an alias bomb instead of expanding it', () => {
    const bomb = [
      'a: &a [x, x, x, x, x, x, x, x, x, x]',
      ...'bcdefghi'.split('').map(
        (c, i) =>
          `${c}: &${c} [${Array(10)
            .fill('*' + 'abcdefghi'[i])
            .join(', ')}]`,
      ),
    ].join('\n');
    expect(() => parseRepoSettings(bomb, WHERE)).toThrow();
  });

  it('an empty file changes nothing', () => {
    expect(applyRepoSettings(operator(), parseRepoSettings('', WHERE), WHERE)).toEqual(operator());
  });
});
