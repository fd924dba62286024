/**
 * `pnpm test:mutation [module …]`: one Stryker run per safety module (stryker.config.mjs has the
 * table and why), one after another, then scripts/mutation-report.ts. Each run's wall time is
 * kept beside its report for the summary. Exits 1 when a Stryker run fails.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MODULES } from './mutation-modules.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const all = Object.keys(MODULES);
const asked = process.argv.slice(2);
const unknown = asked.filter((m) => !all.includes(m));
if (unknown.length) {
  console.error(`unknown module(s) ${unknown.join(', ')}; known: ${all.join(', ')}`);
  process.exit(2);
}
for (const name of asked.length ? asked : all) {
  const out = path.join(root, 'reports', 'mutation', name);
  mkdirSync(out, { recursive: true });
  console.log(`\n=== ${name}`);
  const start = Date.now();
  const r = spawnSync('pnpm', ['exec', 'stryker', 'run'], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, PRBOT_MUTATION_MODULE: name },
  });
  const seconds = Math.round((Date.now() - start) / 1000);
  writeFileSync(path.join(out, 'time.json'), JSON.stringify({ seconds, at: new Date().toISOString() }) + '\n');
  if (r.status !== 0) {
    console.error(`stryker run for ${name} failed (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
}
const report = spawnSync('node', ['--import', 'tsx', 'scripts/mutation-report.ts'], { cwd: root, stdio: 'inherit' });
process.exit(report.status ?? 1);
