/**
 * Surviving mutants judged acceptable, keyed as scripts/mutation-report.ts prints them
 * (`file:line:col-line:col Mutator replacement`), each with why no test can or should tell it
 * apart. A key goes stale when its line moves: the report then shows the mutant "not yet judged".
 */
export const MUTATION_NOTES: Record<string, string> = {
  'packages/pipeline/src/job-signing.ts:54:48-54:50 StringLiteral "Stryker was here!"':
    'equivalent (unreachable): canonicalize returns undefined only for undefined, a function or a symbol; what it gets here is a JSON.parse result of an object, so `?? ""` never applies',
  'packages/pipeline/src/job-signing.ts:76:25-76:31 StringLiteral ""':
    "equivalent: Buffer.from(string, '') falls back to UTF-8, the same bytes as 'utf8'",
  'packages/core/src/proposal.ts:94:37-94:58 ConditionalExpression false':
    'equivalent (unreachable): zod reports invalid_union only when every form failed, each with its issues, so the list of forms is never empty',
  'packages/core/src/proposal.ts:96:7-96:24 ConditionalExpression false':
    'equivalent (unreachable): a form that failed has at least one issue, so the closest form is never issue-free',
  'packages/core/src/proposal.ts:96:33-96:71 ArrayDeclaration []':
    'unreachable guard (as the line-96 ConditionalExpression)',
  'packages/core/src/proposal.ts:96:34-96:70 ObjectLiteral {}':
    'unreachable guard (as the line-96 ConditionalExpression)',
};
