// Package boundaries (docs/ARCHITECTURE.md draws the graph). Checked by test/boundaries.test.ts,
// which is part of `pnpm test`; by hand: pnpm exec depcruise apps packages
//
//   core  ←  policy  ←  control  ←  apps (worker, dashboard, producer)  ←  cli (launcher)
//   test-support → core; only tests and scripts import it.
//
// "Production code" is every file under a package's or app's src/ that is not a *.test.ts.
const path = require('node:path');

const PROD = '^(apps|packages)/[^/]+/src/';
const TESTS = '\\.test\\.ts$';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'app-imports-app',
      severity: 'error',
      comment: 'An app never imports another app: shared logic belongs in a package (core, control, policy). Only the prbot launcher (apps/cli) starts the apps, through their entry modules.',
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
      from: { path: PROD, pathNot: ['^packages/test-support/', TESTS] },
      to: { path: ['^packages/test-support/', '^@prbot/test-support(/|$)'] },
    },
    {
      name: 'package-imports-app',
      severity: 'error',
      comment: 'Packages are libraries: they never import an app.',
      from: { path: '^packages/' },
      to: { path: ['^apps/', '^@prbot/(worker|dashboard|producer|cli)(/|$)'] },
    },
    {
      name: 'core-imports-no-workspace-package',
      severity: 'error',
      comment: 'core is the bottom of the graph: it imports no other workspace package.',
      from: { path: '^packages/core/', pathNot: TESTS },
      to: { path: ['^packages/(?!core/)', '^@prbot/(?!core(/|$))'] },
    },
    {
      name: 'policy-imports-only-core',
      severity: 'error',
      comment: 'policy is what an operator edits: it sees core and nothing else.',
      from: { path: '^packages/policy/', pathNot: TESTS },
      to: { path: ['^packages/(?!(core|policy)/)', '^@prbot/(?!(core|policy)(/|$))'] },
    },
    {
      name: 'control-imports-core-and-policy',
      severity: 'error',
      comment: 'control (produce, status, pause) builds on core and policy only.',
      from: { path: '^packages/control/', pathNot: TESTS },
      to: { path: ['^packages/(?!(core|policy|control)/)', '^@prbot/(?!(core|policy|control)(/|$))'] },
    },
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
