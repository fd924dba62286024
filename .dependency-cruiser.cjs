// Package boundaries (docs/ARCHITECTURE.md draws the graph). Checked by test/boundaries.test.ts,
// which is part of `pnpm test`; by hand: pnpm exec depcruise apps packages
//
//   core ← config ← repo ← {sandbox, model, forge} ← pipeline ← control ← apps ← cli (launcher)
//   policy → core only; test-support is imported by tests and scripts only.
//
// "Production code" is every file under a package's or app's src/ that is not a *.test.ts.
const path = require('node:path');

const TESTS = '\\.test\\.ts$';

/**
 * What each package's production code may import from the workspace (besides itself). One line
 * per package: this table is the architecture, and docs/ARCHITECTURE.md repeats it in words.
 */
const ALLOWED = {
  core: [],
  config: ['core'],
  repo: ['core', 'config'],
  sandbox: ['core', 'config', 'repo'],
  model: ['core', 'config', 'repo'],
  forge: ['core', 'config', 'repo'],
  pipeline: ['core', 'config', 'repo', 'sandbox', 'model', 'forge', 'policy'],
  policy: ['core'],
  control: ['core', 'config', 'repo', 'sandbox', 'model', 'forge', 'pipeline', 'policy'],
};

const alternatives = (names) => (names.length ? names.join('|') : '(?!)');

const packageRules = Object.entries(ALLOWED).map(([pkg, allowed]) => {
  const ok = alternatives([pkg, ...allowed]);
  return {
    name: `${pkg}-imports-only-${allowed.length ? allowed.join('-') : 'npm'}`,
    severity: 'error',
    comment: `${pkg} may import from the workspace only: ${allowed.join(', ') || 'nothing (npm packages only)'}.`,
    from: { path: `^packages/${pkg}/src/`, pathNot: TESTS },
    to: { path: [`^packages/(?!(${ok})/)`, `^@prbot/(?!(${ok})(/|$))`] },
  };
});

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No import circles, inside a package or across packages: each module can be read after what it imports.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'through-the-index',
      severity: 'error',
      comment:
        "A module reaches another package only through that package's index (`@prbot/x`), never by a relative path into its files: the index is the package's chosen surface.",
      from: { path: '^(packages|apps)/([^/]+)/' },
      to: {
        path: '^(packages|apps)/',
        pathNot: ['^$1/$2/', '^(packages|apps)/[^/]+/src/index\\.ts$', '^apps/[^/]+/src/(main|cli)\\.ts$'],
      },
    },
    {
      name: 'app-imports-app',
      severity: 'error',
      comment:
        'An app never imports another app: shared logic belongs in a package. Only the prbot launcher (apps/cli) starts the apps, through their entry modules.',
      from: { path: '^apps/([^/]+)/', pathNot: ['^apps/cli/', TESTS] },
      to: { path: ['^apps/[^/]+/', '^@prbot/(worker|dashboard|producer|cli)(/|$)'], pathNot: '^apps/$1/' },
    },
    {
      name: 'cli-imports-only-app-entries',
      severity: 'error',
      comment: 'The launcher loads an app only through its entry module (main.ts, cli.ts), never its internals.',
      from: { path: '^apps/cli/src/' },
      to: { path: '^apps/(?!cli/)[^/]+/', pathNot: '^apps/[^/]+/src/(main|cli)\\.ts$' },
    },
    {
      name: 'production-imports-test-support',
      severity: 'error',
      comment: 'Loopback stand-ins and the harness are for tests: production code must not import @prbot/test-support.',
      from: { path: '^(apps|packages)/[^/]+/src/', pathNot: ['^packages/test-support/', TESTS] },
      to: { path: ['^packages/test-support/', '^@prbot/test-support(/|$)'] },
    },
    {
      name: 'test-support-through-the-harness',
      severity: 'error',
      comment:
        'The stand-ins (model, forge, git, Redis) share no code with what they check: in test support only the harness, which builds a prbot runtime for a test, imports workspace packages.',
      from: { path: '^packages/test-support/src/', pathNot: ['^packages/test-support/src/harness\\.ts$', TESTS] },
      to: { path: ['^packages/(?!test-support/)', '^@prbot/(?!test-support(/|$))'] },
    },
    {
      name: 'package-imports-app',
      severity: 'error',
      comment: 'Packages are libraries: they never import an app.',
      from: { path: '^packages/' },
      to: { path: ['^apps/', '^@prbot/(worker|dashboard|producer|cli)(/|$)'] },
    },
    ...packageRules,
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: ['(^|/)dist/', '(^|/)node_modules/'] },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: path.join(__dirname, 'tsconfig.base.json') },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.json'],
      mainFields: ['module', 'main', 'types'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
