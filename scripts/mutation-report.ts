/**
 * Turns the Stryker JSON reports of `pnpm test:mutation` (reports/mutation/<module>/mutation.json)
 * into docs/mutation.md: the score per module, every mutant that survives with why it is
 * acceptable (MUTATION_NOTES) or "not yet judged", and the mutants that survived the first run
 * and are killed now, with the test that kills them. scripts/reliability-report.ts puts the file
 * into docs/RELIABILITY.md as it is. Exits 1 when a module scores under 85 %.
 *
 * A module without a report here (reports/ is not committed, so a fresh checkout that ran only some
 * modules has only theirs) keeps its rows from the docs/mutation.md being replaced: its score row,
 * its survivors and its "killed since" rows, said to be carried. Never a number that was not measured.
 */
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MODULES } from './mutation-modules.mjs';
import { MUTATION_NOTES } from './mutation-notes.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BAR = 85;

interface Mutant {
  id: string;
  mutatorName: string;
  replacement?: string;
  location: { start: { line: number; column: number }; end: { line: number; column: number } };
  status: string;
  killedBy?: string[];
  static?: boolean;
}
interface Report {
  files: Record<string, { mutants: Mutant[] }>;
  testFiles?: Record<string, { tests: { id: string; name: string }[] }>;
}

const oneLine = (s: string | undefined) => {
  const t = (s ?? '').replace(/\s+/g, ' ').trim();
  return t.length > 80 ? `${t.slice(0, 77)}…` : t;
};
const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/`/g, 'ˋ');
/** Where a mutant is, as file:line:column. */
const at = (file: string, m: Mutant) => `${file}:${m.location.start.line}:${m.location.start.column}`;
/** The key a note is filed under: span, mutator and replacement (ids change between runs). */
const keyOf = (file: string, m: Mutant) =>
  `${at(file, m)}-${m.location.end.line}:${m.location.end.column} ${m.mutatorName} ${oneLine(m.replacement)}`;
const DETECTED = new Set(['Killed', 'Timeout']);
const UNDETECTED = new Set(['Survived', 'NoCoverage']);

/** The module a `file:line:col` belongs to, by the files and line ranges it mutates. */
function moduleOf(where: string): string | undefined {
  const m = /^(.+):(\d+):\d+$/.exec(where);
  if (!m) return undefined;
  const [, file, line] = m;
  return Object.entries(MODULES).find(([, mod]) =>
    mod.mutate.some((spec) => {
      const r = /^(.+):(\d+)-(\d+)$/.exec(spec);
      return r ? r[1] === file && +line! >= +r[2]! && +line! <= +r[3]! : spec === file;
    }),
  )?.[0];
}
/** The previous docs/mutation.md's rows of a module: its score row and its rows in the two mutant tables. */
const previous = (() => {
  const file = path.join(root, 'docs', 'mutation.md');
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const [, survivorPart = '', fixedPart = ''] = text.split(/^### .*$/m);
  const tableRows = (part: string) => part.split('\n').filter((l) => /^\| [^-|]/.test(l) && !l.startsWith('| where '));
  const where = (l: string) => l.split(' | ')[0]!.slice(2);
  return {
    row: (name: string) =>
      text
        .split('\n')
        .find((l) => l.startsWith(`| ${name} | `) && !l.includes('**not run**') && !l.includes('(carried)')) ??
      text.split('\n').find((l) => l.startsWith(`| ${name} (carried) | `)),
    survivors: (name: string) => tableRows(survivorPart).filter((l) => moduleOf(where(l)) === name),
    fixed: (name: string) => tableRows(fixedPart).filter((l) => moduleOf(where(l)) === name),
  };
})();

const rows: string[] = [];
const carried: string[] = [];
const survivors: string[] = [];
const fixed: string[] = [];
let low = 0;
const notRun: string[] = [];
let totalSeconds = 0;
for (const name of Object.keys(MODULES)) {
  const dir = path.join(root, 'reports', 'mutation', name);
  const file = path.join(dir, 'mutation.json');
  if (!existsSync(file)) {
    const row = previous.row(name);
    if (row) {
      // Carried from the previous docs/mutation.md: the row as measured then, named as carried.
      const cells = row.split(' | ');
      cells[0] = `| ${name} (carried)`;
      rows.push(cells.join(' | '));
      carried.push(name);
      const t = /(\d+) min (\d+) s/.exec(cells[5] ?? '');
      if (t) totalSeconds += 60 * +t[1]! + +t[2]!;
      if (/\*\*[\d.]+ %\*\*/.test(row)) low++;
      survivors.push(...previous.survivors(name));
      fixed.push(...previous.fixed(name));
      continue;
    }
    rows.push(`| ${name} | — | — | — | — | — | **not run** |`);
    notRun.push(name);
    continue;
  }
  // The first report of a module is kept, so later runs can name what the new tests fixed.
  const baseline = path.join(dir, 'baseline.json');
  if (!existsSync(baseline)) copyFileSync(file, baseline);
  const report = JSON.parse(readFileSync(file, 'utf8')) as Report;
  const before = JSON.parse(readFileSync(baseline, 'utf8')) as Report;
  const testName = new Map<string, string>();
  for (const [f, t] of Object.entries(report.testFiles ?? {}))
    for (const x of t.tests) testName.set(x.id, `${f.replace(/^.*?(packages|test)\//, '$1/')} "${x.name}"`);
  const seconds = existsSync(path.join(dir, 'time.json'))
    ? (JSON.parse(readFileSync(path.join(dir, 'time.json'), 'utf8')) as { seconds: number }).seconds
    : NaN;
  totalSeconds += Number.isNaN(seconds) ? 0 : seconds;
  let detected = 0;
  let undetected = 0;
  let other = 0;
  for (const [f, { mutants }] of Object.entries(report.files)) {
    const rel = path.relative(root, path.resolve(root, f));
    const survivedBefore = new Set(
      (before.files[f]?.mutants ?? []).filter((m) => UNDETECTED.has(m.status)).map((m) => keyOf(rel, m)),
    );
    for (const m of mutants.sort((a, b) => a.location.start.line - b.location.start.line)) {
      const key = keyOf(rel, m);
      if (DETECTED.has(m.status)) {
        detected++;
        if (survivedBefore.has(key)) {
          const by = (m.killedBy ?? []).map((id) => testName.get(id) ?? id)[0] ?? 'a timeout';
          fixed.push(
            `| ${cell(at(rel, m))} | ${m.mutatorName} | \`${cell(oneLine(m.replacement))}\` | fixed by ${cell(by)} |`,
          );
        }
      } else if (UNDETECTED.has(m.status)) {
        undetected++;
        const note = MUTATION_NOTES[key];
        if (!note) console.error(`not yet judged: ${key}`);
        survivors.push(
          `| ${cell(at(rel, m))} | ${m.mutatorName}${m.status === 'NoCoverage' ? ' (no test reaches it)' : ''} | \`${cell(oneLine(m.replacement))}\` | ${note ? cell(note) : '**not yet judged**'} |`,
        );
      } else other++;
    }
  }
  const score = (100 * detected) / (detected + undetected);
  if (!(score >= BAR)) low++;
  const time = Number.isNaN(seconds) ? '—' : `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
  rows.push(
    `| ${name} | ${MODULES[name as keyof typeof MODULES].mutate.map((m) => `\`${m}\``).join(', ')} | ${detected} | ${undetected} | ${other} | ${time} | ${score >= BAR ? '' : '**'}${score.toFixed(1)} %${score >= BAR ? '' : '**'} |`,
  );
}

const doc = `## Mutation testing

Written by \`pnpm test:mutation\` (\`scripts/mutation.ts\`: StrykerJS with the vitest runner, one run
per module with only the unit tests that judge it, \`coverageAnalysis: perTest\`, concurrency 2;
then \`scripts/mutation-report.ts\`; \`pnpm test:mutation <module> …\` runs some). Stryker mutates the files
in place and puts them back when it ends (after a hard kill: \`git checkout -- packages\`); last run ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC. Not part of \`pnpm test\` or of every CI run: the runs in the table took ${Math.round(totalSeconds / 60)} min in all, on a shared, loaded 2-core machine (load average 10-15 from other work).
Each run also imports the module in a test (\`scripts/mutation-loads.test.ts\`): a mutant that makes it
throw while loading fails every test file that imports it, which Stryker's vitest runner otherwise
reports as survived (no test result). Full runs, not incremental (Stryker reuses a static mutant's
"survived" after tests are added).
Score = detected / (detected + undetected); detected = killed or timed out, undetected = survived
or reached by no test. "Other" counts mutants Stryker could not judge (compile or runtime errors of
the mutant itself, ignored). The bar is ${BAR} % per module.

| module | file | detected | undetected | other | run time | score |
|---|---|---:|---:|---:|---:|---:|
${rows.join('\n')}
${carried.length ? `\nCarried: ${carried.join(', ')}: no report in reports/mutation/ on the machine that wrote this file, so their rows (score, survivors, killed since) are the previous docs/mutation.md's, from their last run.\n` : ''}${notRun.length ? `\nNot run: ${notRun.join(', ')} (no report in reports/mutation/; \`pnpm test:mutation ${notRun.join(' ')}\` runs them).\n` : ''}
### Mutants that survive

${survivors.length ? `| where | mutator | replacement | why acceptable |\n|---|---|---|---|\n${survivors.join('\n')}` : 'None.'}

### Mutants that survived the first run, killed since

${fixed.length ? `| where | mutator | replacement | |\n|---|---|---|---|\n${fixed.join('\n')}` : 'None.'}
`;
writeFileSync(path.join(root, 'docs', 'mutation.md'), doc);
console.log(doc);
if (low || notRun.length) {
  console.error(`\n${low} module(s) under ${BAR} %, ${notRun.length} not run`);
  process.exit(1);
}
