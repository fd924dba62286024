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
  'packages/core/src/redact.ts:20:11-20:27 ConditionalExpression true':
    'equivalent: the pattern is rebuilt from the same set of values, so the rebuild that this mutant forces on a repeat registration changes nothing',
  'packages/core/src/redact.ts:36:10-42:49 MethodExpression [v, JSON.stringify(v).slice(1, -1), encodeURIComponent(v), Buffer.from(v).toS…':
    'equivalent: every spelling is at least as long as the value (six characters or more), so the length filter never drops one',
  'packages/core/src/redact.ts:42:19-42:48 ConditionalExpression true':
    'equivalent: as the line-36 mutant (no spelling is shorter than the value)',
  'packages/core/src/redact.ts:60:19-60:33 ConditionalExpression false':
    'equivalent: replacing in the empty string gives the empty string; the check only saves the call',
  'packages/core/src/redact.ts:92:11-92:20 ConditionalExpression true':
    'equivalent: an error without a stack makes redactText throw inside the try, which is caught; the message is already scrubbed and the stack stays undefined',
  'packages/repo/src/test-guard.ts:257:18-257:70 MethodExpression oldLines':
    "cost only: base lines past the answer's length plus 500 cannot align within the diff's 500-edit bound; the slice keeps a 10,000-line base from making the diff give up (then the in-order match decides, with the same verdicts in the tests)",
  'packages/repo/src/test-guard.ts:258:46-258:80 ObjectLiteral {}':
    'cost only: without the bound the diff runs to the end however different the texts (O(N·D)); the in-order fallback it replaces gives the same verdicts on the tested cuts and rewrites',
  'packages/repo/src/test-guard.ts:232:41-232:43 StringLiteral "Stryker was here!"':
    'equivalent: it only glues text onto the last base line, which then stops aligning; a cut there loses fewer than the three lines the check asks for, and an answer that keeps the end still ends in a line of its own',
  // Killed by tests written after the last Stryker run of their module, checked by applying the
  // mutant by hand and running the test file (the next full run moves them to "killed since").
  'packages/pipeline/src/job-signing.ts:28:36-28:52 ObjectLiteral {}':
    'fixed by job-signing.test.ts "verifies by default: nothing but a test switches it off" (checked by hand; not yet re-run in Stryker)',
  'packages/pipeline/src/job-signing.ts:28:46-28:50 BooleanLiteral false':
    'fixed by job-signing.test.ts "verifies by default: nothing but a test switches it off" (checked by hand: 4 tests fail; not yet re-run in Stryker)',
  'packages/pipeline/src/job-signing.ts:35:7-35:30 ConditionalExpression false':
    'fixed by job-signing.test.ts "refuses data that is not an object, and signatures that are missing or malformed" (an array signature; checked by hand; not yet re-run in Stryker)',
  'packages/core/src/proposal.ts:101:18-101:56 Regex /```(?:json)?\\s*\\n([\\s\\S]*?)\\n\\S*```/i':
    'fixed by proposal.test.ts "reads JSON inside a ```json fence …" (an indented closing fence; checked by hand; not yet re-run in Stryker)',
  'packages/core/src/proposal.ts:102:32-102:43 MethodExpression text':
    'fixed by proposal.test.ts "reads plain JSON, with whitespace around it" (a BOM and a no-break space; checked by hand; not yet re-run in Stryker)',
  'packages/repo/src/test-guard.ts:294:75-294:90 ConditionalExpression true':
    "equivalent in practice: a last line of the answer's own that equals the next base line would have been aligned by the diff (or the in-order match), so it is never left over as the answer's own",
  'packages/repo/src/test-guard.ts:266:81-271:8 BlockStatement {}':
    'fixed by truncation.test.ts "counts a closer it absorbed when base lines align after it again" (checked by hand; not yet re-run in Stryker)',
  'packages/repo/src/test-guard.ts:270:9-270:28 AssignmentOperator o -= p.value.length':
    'fixed by truncation.test.ts "counts a closer it absorbed when base lines align after it again" (checked by hand; not yet re-run in Stryker)',
  'packages/repo/src/shrink.ts:48:9-48:18 ConditionalExpression true':
    'equivalent: an empty base has no line to remove, so `removed > maxShrink × 0` is false either way',
  'packages/repo/src/shrink.ts:48:9-48:18 EqualityOperator total >= 0':
    'equivalent: as the line-48 ConditionalExpression',
  // guardrails.ts: equivalent mutants (the written-out table cases in guardrails.test.ts kill the rest).
  'packages/repo/src/guardrails.ts:18:12-18:98 StringLiteral ""':
    'equivalent: every CI entry has a `what`, which the refusal shows instead of `why` (`g.what ?? g.why`); the CI `why` documents the entries and nothing reads it',
  'packages/repo/src/guardrails.ts:80:105-80:109 BooleanLiteral false':
    "equivalent: the table's globs are all lower case and are matched against the canonical spelling, which is folded to lower case, so `nocase` changes nothing",
  'packages/repo/src/guardrails.ts:110:14-110:21 Regex /:.*/s':
    'equivalent: with the s flag `.*` runs to the end of the segment, so the `$` adds nothing',
  'packages/repo/src/guardrails.ts:125:46-125:54 Regex /\\\\.*/s':
    'equivalent: as line 110 (with the s flag `.*` runs to the end, the `$` adds nothing)',
  'packages/repo/src/guardrails.ts:151:37-151:47 ConditionalExpression true':
    "equivalent: a `..` segment is refused by the check just above, so `s !== '..'` is always true here",
  'packages/repo/src/guardrails.ts:151:43-151:47 StringLiteral ""':
    'equivalent: `..` never reaches this line (refused above), and an empty segment never folds to `.` or `..`',
  'packages/repo/src/guardrails.ts:153:7-153:55 ConditionalExpression false':
    'equivalent: with `..` and absolute paths refused above, a path that posix.normalize changes or that ends in `/` has a `.` or empty segment, which the third test catches alone',
  "packages/repo/src/guardrails.ts:153:7-153:55 LogicalOperator path.posix.normalize(p) !== p && p.endsWith('/')":
    'equivalent: as the line-153 ConditionalExpression (the third test catches every path the first two do)',
  'packages/repo/src/guardrails.ts:153:7-153:36 ConditionalExpression false':
    'equivalent: as the line-153 ConditionalExpression (a path posix.normalize changes has a `.` or empty segment)',
  "packages/repo/src/guardrails.ts:153:40-153:55 MethodExpression p.startsWith('/')":
    'equivalent: a path ending in `/` has an empty last segment, which the third test catches; an absolute path never gets here',
  "packages/repo/src/guardrails.ts:153:59-153:98 MethodExpression segs.every(s => s === '.' || s === '')":
    'equivalent: `some` and `every` differ only for a path with a `.` or empty segment beside other segments, which posix.normalize changes or which ends in `/` (the first two tests)',
  'packages/repo/src/guardrails.ts:153:89-153:97 ConditionalExpression false':
    'equivalent: an empty segment is leading (absolute, refused above), trailing (ends in `/`) or doubled (posix.normalize changes it), so the first two tests catch it',
  'packages/repo/src/guardrails.ts:153:95-153:97 StringLiteral "Stryker was here!"':
    "equivalent: as the line-153 `s === ''` ConditionalExpression",
  // test-guard.ts (the test guard and the shadowing check): equivalent mutants.
  'packages/repo/src/test-guard.ts:65:8-65:29 ConditionalExpression true':
    'equivalent: for an ADD testFileRefusal returns null at once (the base has no content for an ADD: resolveProposal makes an ADD only of a path absent from the base tree)',
  'packages/repo/src/test-guard.ts:74:89-74:101 Regex /\\.\\/|\\/$/g':
    'differs only for a cache directory written with `./` inside it (`a/./b`): the mutant reads it as a/b, the code keeps it as written and it matches no path (paths are refused unless normalised); config spelling, not a path the guard can be fooled with',
  'packages/repo/src/test-guard.ts:78:52-78:55 StringLiteral ""':
    'equivalent: for a one-segment directory the prefix tests that this mutant lets run find exactly what the segment test already found',
  'packages/repo/src/test-guard.ts:82:53-82:71 ConditionalExpression false':
    "equivalent: an ADD's path is absent from the base, so `old` is undefined for it either way",
  'packages/repo/src/test-guard.ts:82:66-82:71 StringLiteral ""': 'equivalent: as the line-82 ConditionalExpression',
  'packages/repo/src/test-guard.ts:147:33-147:35 StringLiteral "Stryker was here!"':
    'equivalent: the stand-in base text of a new file has no exit or patch in it either',
  'packages/repo/src/test-guard.ts:175:80-175:105 Regex /(^|[\\s;{}(),])\\/\\/.*/gm':
    'equivalent: without the s flag `.*` stops at the end of the line, so the `$` adds nothing',
  'packages/repo/src/test-guard.ts:176:35-176:47 Regex /^\\s*#.*/gm':
    'equivalent: as line 175 (`.*` stops at the end of the line)',
  'packages/repo/src/test-guard.ts:209:18-209:27 ConditionalExpression true':
    'equivalent: an empty base has no line to remove, so `removed > maxShrink × 0` is false either way (as shrink.ts:48)',
  'packages/repo/src/test-guard.ts:209:18-209:27 EqualityOperator total >= 0':
    'equivalent: as the line-209 ConditionalExpression',
  'packages/repo/src/test-guard.ts:319:9-319:27 ConditionalExpression false':
    "equivalent: an UPDATE's path is in the base, so each of its prefixes is an existing entry (skipped) or lies in a directory not listed, where nothing is found",
  'packages/repo/src/test-guard.ts:331:21-331:42 ConditionalExpression true':
    'equivalent in practice: differs only for a new path with a directory named like index.js or __init__.py in its middle',
  'packages/repo/src/test-guard.ts:337:13-337:25 ConditionalExpression true':
    'equivalent: a prefix that is an existing entry is skipped above (`exact.has`), so `e !== prefix` always holds here',
  // test-guard.ts: the patterns' equivalent mutants (the spelling tables in test-guard.test.ts kill the rest).
  'packages/repo/src/test-guard.ts:118:9-118:145 Regex /\\bif\\S*\\(?\\s*(?:false|0|False|None|null|undefined)\\s*\\)?\\s*[:{]|\\bif\\s*\\(\\s*…':
    'equivalent in practice: the `\\s*` after `\\(?` takes the space either way; differs only for a word that starts with `if` right before `(false) {` (`ifx(false) {`), which is no if',
  'packages/repo/src/test-guard.ts:118:9-118:145 Regex /\\bif\\s*\\(?\\S*(?:false|0|False|None|null|undefined)\\s*\\)?\\s*[:{]|\\bif\\s*\\(\\s*…':
    'equivalent: a spaced `( false )` is caught by the second alternative (`if\\s*\\(\\s*false\\s*\\)`), and without a parenthesis the space is taken before `\\(?`',
  'packages/repo/src/test-guard.ts:118:9-118:145 Regex /\\bif\\s*\\(?\\s*(?:false|0|False|None|null|undefined)\\S*\\)?\\s*[:{]|\\bif\\s*\\(\\s*…':
    'equivalent: a spaced `( false )` is caught by the second alternative, and `if False :` by the `\\s*` before `[:{]`',
  'packages/repo/src/test-guard.ts:118:9-118:145 Regex /\\bif\\s*\\(?\\s*(?:false|0|False|None|null|undefined)\\s*\\)?\\S*[:{]|\\bif\\s*\\(\\s*…':
    'equivalent: the `\\s*` before `\\)?` takes the space of `if False :`, and the paren forms are caught by the second alternative',
  'packages/repo/src/test-guard.ts:126:3-126:61 Regex /\\bassert\\.\\w*[eE]qual\\s*\\(\\S*([^,()]+?)\\s*,\\s*\\1\\s*[,)]/g':
    'equivalent: the argument group `[^,()]+?` takes spaces too, so the `\\s*` around it never decides a match',
  'packages/repo/src/test-guard.ts:126:3-126:61 Regex /\\bassert\\.\\w*[eE]qual\\s*\\(\\s*([^,()]+?)\\S*,\\s*\\1\\s*[,)]/g':
    'equivalent: as the other line-126 mutants inside the parentheses (the argument group takes spaces)',
  'packages/repo/src/test-guard.ts:127:3-127:86 Regex /\\bexpect\\(\\S*([^()]+?)\\s*\\)\\s*\\.\\s*(?:toBe|toEqual|toStrictEqual)\\s*\\(\\s*\\1\\…':
    'equivalent: the argument group `[^()]+?` takes spaces too, so the `\\s*` around it never decides a match',
  'packages/repo/src/test-guard.ts:127:3-127:86 Regex /\\bexpect\\(\\s*([^()]+?)\\S*\\)\\s*\\.\\s*(?:toBe|toEqual|toStrictEqual)\\s*\\(\\s*\\1\\…':
    'equivalent: as the other line-127 mutants inside the parentheses',
  'packages/repo/src/test-guard.ts:127:3-127:86 Regex /\\bexpect\\(\\s*([^()]+?)\\s*\\)\\s*\\.\\s*(?:toBe|toEqual|toStrictEqual)\\s*\\(\\S*\\1\\…':
    'equivalent: the back-reference can carry the spaces the group took, so `\\s*` before it never decides',
  'packages/repo/src/test-guard.ts:128:3-128:61 Regex /\\bt\\.(?:is|deepEqual)\\s*\\(\\S*([^,()]+?)\\s*,\\s*\\1\\s*[,)]/g':
    'equivalent: the argument group `[^,()]+?` takes spaces too, so the `\\s*` around it never decides a match',
  'packages/repo/src/test-guard.ts:128:3-128:61 Regex /\\bt\\.(?:is|deepEqual)\\s*\\(\\s*([^,()]+?)\\S*,\\s*\\1\\s*[,)]/g':
    'equivalent: as the other line-128 mutants inside the parentheses',
  'packages/repo/src/test-guard.ts:128:3-128:61 Regex /\\bt\\.(?:is|deepEqual)\\s*\\(\\s*([^,()]+?)\\s*,\\S*\\1\\s*[,)]/g':
    'equivalent: as the other line-128 mutants inside the parentheses',
  'packages/repo/src/test-guard.ts:128:3-128:61 Regex /\\bt\\.(?:is|deepEqual)\\s*\\(\\s*([^,()]+?)\\s*,\\s*\\1\\S*[,)]/g':
    'equivalent: as the other line-128 mutants inside the parentheses (the group can end in the spaces before `)`)',
  'packages/repo/src/test-guard.ts:129:3-129:44 Regex /^\\s*assert\\s([^=\\n]+?)\\s*==\\s*\\1\\s*$/gm':
    'equivalent: the lazy group and the back-reference take any further spaces after `assert`',
  'packages/repo/src/test-guard.ts:132:3-132:344 Regex /\\b(?:assert\\w*|expect\\w*|should|assert_\\w!|must\\w*)\\s*[.(!]|\\bassert\\s+\\S|\\b…':
    'equivalent: the first alternative `assert\\w*` already takes `assert_eq!` (`_` is a word character)',
  'packages/repo/src/test-guard.ts:132:3-132:344 Regex /\\b(?:assert\\w*|expect\\w*|should|assert_\\W*!|must\\w*)\\s*[.(!]|\\bassert\\s+\\S|\\…':
    'equivalent: as the other `assert_` mutant (the first alternative takes it)',
  'packages/repo/src/test-guard.ts:132:3-132:344 Regex /\\b(?:assert\\w*|expect\\w*|should|assert_\\w*!|must\\w*)\\s*[.(!]|\\bassert\\s+\\S|\\…':
    'equivalent: these mutants change only the `self.assert…` alternative (the key is cut short where they differ); `self.assertEqual(` is counted by the first alternative (`\\bassert\\w*\\s*[.(!]`, the dot is a word boundary), so that alternative never adds a match',
  'packages/repo/src/test-guard.ts:300:20-300:55 Regex /\\.(?:[cm]?[jt]sx?|json|node|py)/i':
    'equivalent in practice: without `$` a name with a module extension in its middle (`strings.js.map`) counts as a module, and its stem (`strings.map`) matches only a new file of that same odd name',
  'packages/pipeline/src/budget.ts:36:28-36:44 StringLiteral ""':
    "equivalent for behaviour: the error's `name` only labels it in logs; callers tell it by `instanceof ClockSkewError`",
  'packages/pipeline/src/budget.ts:97:22-97:48 LogicalOperator this.replicas?.mark() && 0':
    'not seen by these unit tests (they run with no replica, `replicas` undefined, where both spellings give 0); with a replica the mark is what WAIT confirms, shown by test/reliability/replica-loss.test.ts, which the mutation run does not include',
  'packages/pipeline/src/budget.ts:100:89-100:117 ConditionalExpression false':
    "timing of the 60 s give-up: only reached after a replica failed to confirm for a minute; no unit test waits a minute (the replica wait's harm is shown by replica-loss.test.ts)",
  'packages/pipeline/src/budget.ts:100:89-100:117 EqualityOperator Date.now() + wait >= deadline':
    'timing at the 60 s deadline, to the millisecond: not observable',
  'packages/pipeline/src/budget.ts:100:89-100:106 ArithmeticOperator Date.now() - wait':
    'timing of the 60 s give-up (as the line-100 ConditionalExpression)',
  'packages/pipeline/src/budget.ts:103:39-103:67 ConditionalExpression false':
    'timing: a Redis error is retried until 60 s have passed; a test would wait a minute of refused writes (the retry itself is shown by the OOM rows of RELIABILITY.md)',
  'packages/pipeline/src/budget.ts:103:39-103:67 EqualityOperator Date.now() + wait >= deadline':
    'timing at the 60 s deadline, to the millisecond: not observable',
  'packages/pipeline/src/budget.ts:103:39-103:56 ArithmeticOperator Date.now() - wait':
    'timing of the 60 s give-up (as the line-103 ConditionalExpression)',
  'packages/pipeline/src/budget.ts:106:14-106:38 MethodExpression Math.max(wait * 2, 2000)':
    'timing only: the pause between retries of a refused write (at most 2 s either way once it grows); what is retried and when it stops are the same',
  'packages/pipeline/src/budget.ts:106:23-106:31 ArithmeticOperator wait / 2':
    'timing only: the pause between retries shrinks instead of growing; the same writes are retried until the same deadline',
  'packages/pipeline/src/budget.ts:114:12-114:60 ArithmeticOperator Number(s) * 1000 - Math.floor(Number(us) / 1000)':
    "under a second off the server's time (the microseconds subtracted instead of added): `today()` shows the same UTC day except within a second of midnight",
  'packages/pipeline/src/budget.ts:119:9-119:36 ConditionalExpression true':
    'equivalent: the day keys are rebuilt on every call instead of once a day (speed only)',
  'packages/pipeline/src/budget.ts:191:9-191:29 ConditionalExpression true':
    'equivalent unless a repository is named `undefined`: settling also names `budget-repo:undefined:<day>`, which does not exist, and the script skips a missing bucket',
  'packages/pipeline/src/budget.ts:217:100-217:102 UnaryOperator +1':
    "reached only with `requestCapDefence.on` false (a positive control's switch): the request count's adjustment there; the control's test asserts the uncapped requests, not this count",
};
