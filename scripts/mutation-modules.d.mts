/** Types of mutation-modules.mjs (plain JS so stryker.config.mjs can load it without a TS loader). */
export declare const MODULES: Record<
  'guardrails' | 'test-guard' | 'truncation' | 'shrink' | 'job-signing' | 'budget' | 'redact' | 'proposal',
  { mutate: string[]; tests: string[] }
>;
