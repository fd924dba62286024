/**
 * Surviving mutants judged acceptable, keyed as scripts/mutation-report.ts prints them
 * (`file:line Mutator replacement`), each with why no test can or should tell it apart.
 */
export const MUTATION_NOTES: Record<string, string> = {};
