// @ts-check
import { fileURLToPath } from 'node:url';
import { MODULES } from './scripts/mutation-modules.mjs';

/**
 * `pnpm test:mutation` (scripts/mutation.ts): mutation testing of the modules that decide safety,
 * one Stryker run per module, each with only the unit tests that judge that module. Module-level
 * tables (the guarded paths, the test guard's patterns) are "static" mutants that Stryker runs
 * against every test of the run: with all the suites at once that was ~45 s a mutant (17 h in
 * all); per module it is seconds. Not part of `pnpm test`: it takes minutes (docs/mutation.md).
 *
 * `PRBOT_MUTATION_MODULE` picks the module (scripts/mutation.ts sets it).
 */
const name = process.env.PRBOT_MUTATION_MODULE ?? '';
const picked = Object.entries(MODULES).filter(([n]) => !name || n === name);
if (!picked.length) throw new Error(`PRBOT_MUTATION_MODULE must be one of ${Object.keys(MODULES).join(', ')}`);
// Without a module (a bare `stryker run`, or knip reading this file): every module in one run, slow.
const mod = {
  mutate: picked.flatMap(([, m]) => m.mutate),
  tests: [...new Set(picked.flatMap(([, m]) => m.tests))],
};
// Read by vitest.mutation.config.ts in Stryker's test-runner processes, which inherit it.
// scripts/mutation-loads.test.ts: a mutant that makes a module throw while loading fails every
// test file that imports it, which Stryker's vitest runner reports as "survived" (no test ran).
process.env.PRBOT_MUTATION_TESTS = [...mod.tests, 'scripts/mutation-loads.test.ts'].join(',');
const out = `reports/mutation/${name || 'all'}`;

export default {
  testRunner: 'vitest',
  // pnpm keeps the runner out of @stryker-mutator/core's own node_modules, where Stryker looks for
  // plugins by name: hand it the runner's path.
  plugins: [fileURLToPath(import.meta.resolve('@stryker-mutator/vitest-runner'))],
  // related: false: every listed test file runs, not only those that import the mutated file
  // statically (scripts/mutation-loads.test.ts imports it by a computed path).
  vitest: { configFile: 'vitest.mutation.config.ts', related: false },
  mutate: mod.mutate,
  // In place: the workspace packages import each other through node_modules symlinks to the real
  // checkout, so a sandbox copy would test mutants nobody imports. Stryker puts the files back
  // when it ends; after a hard kill, `git checkout -- packages` does.
  inPlace: true,
  // Stryker's default puts a `// @ts-nocheck` header into every src/test file, fixtures included
  // (examples/demo-repo/src/strings.js gained two lines and a test's line numbers moved). vitest
  // does not type-check, so no file needs one.
  disableTypeChecks: false,
  coverageAnalysis: 'perTest',
  // The machine is shared: two test processes at most.
  concurrency: 2,
  timeoutMS: 30_000,
  // Not incremental: Stryker 9.6.1 reuses a static mutant's "survived" when tests were added, as
  // if no test covered it (a static mutant lists none), so new tests were not seen killing it.
  incremental: false,
  reporters: ['html', 'json', 'clear-text', 'progress'],
  htmlReporter: { fileName: `${out}/index.html` },
  jsonReporter: { fileName: `${out}/mutation.json` },
  clearTextReporter: { allowColor: false, logTests: false, reportMutants: true, reportScoreTable: true },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  thresholds: { high: 90, low: 85, break: null },
};
