// @ts-check
/**
 * The modules `pnpm test:mutation` mutates, each with the unit tests that judge it (only those run
 * for its mutants: see stryker.config.mjs for why). Read by stryker.config.mjs, scripts/mutation.ts
 * and scripts/mutation-report.ts.
 */
export const MODULES = {
  guardrails: {
    mutate: ['packages/repo/src/guardrails.ts'],
    tests: ['packages/repo/src/guardrails.test.ts', 'packages/repo/src/test-guard.test.ts'],
  },
  // test-guard.ts holds two checks: the test guard (rules 1-3, and the shadowing check) and the
  // truncation check (truncationRefusal, cutOffAt), scored apart. Line ranges: keep them in step
  // with the file.
  'test-guard': {
    mutate: ['packages/repo/src/test-guard.ts:1-215', 'packages/repo/src/test-guard.ts:298-361'],
    tests: ['packages/repo/src/test-guard.test.ts'],
  },
  truncation: {
    mutate: ['packages/repo/src/test-guard.ts:216-297'],
    tests: ['packages/repo/src/truncation.test.ts', 'packages/repo/src/test-guard.test.ts'],
  },
  shrink: {
    mutate: ['packages/repo/src/shrink.ts'],
    tests: ['packages/repo/src/shrink.test.ts', 'packages/repo/src/test-guard.test.ts'],
  },
  'job-signing': {
    mutate: ['packages/pipeline/src/job-signing.ts'],
    tests: ['packages/pipeline/src/job-signing.test.ts'],
  },
  budget: {
    mutate: ['packages/pipeline/src/budget.ts'],
    tests: ['packages/pipeline/src/budget.test.ts'],
  },
  redact: {
    mutate: ['packages/core/src/redact.ts'],
    tests: ['test/redact.test.ts', 'packages/core/src/redact.test.ts'],
  },
  proposal: {
    mutate: ['packages/core/src/proposal.ts'],
    tests: ['packages/core/src/proposal.test.ts', 'packages/repo/src/changes.test.ts'],
  },
};
