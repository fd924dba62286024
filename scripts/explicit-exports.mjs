#!/usr/bin/env node
// Rewrites packages/core/src/index.ts so every `export * from './x.ts'` becomes the explicit
// list of names that module exports (values and `type` names apart), grouped by module with
// the module's path as its heading. Run after merging branches that added exports:
//   node scripts/explicit-exports.mjs && pnpm -s typecheck
// `--check` exits 1 (naming the modules) while any `export *` is left, for CI or a test.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const index = path.join(root, 'packages', 'core', 'src', 'index.ts');
const text = readFileSync(index, 'utf8');
const stars = [...text.matchAll(/^export \* from '(\.[^']+)';$/gm)];
if (process.argv.includes('--check')) {
  if (stars.length) {
    console.error(`packages/core/src/index.ts still re-exports with export *: ${stars.map((m) => m[1]).join(', ')}`);
    process.exit(1);
  }
  process.exit(0);
}
const program = ts.createProgram([index], { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, allowImportingTsExtensions: true, noEmit: true, strict: true, skipLibCheck: true });
const checker = program.getTypeChecker();
let out = text;
for (const [line, spec] of stars) {
  const file = program.getSourceFile(path.resolve(path.dirname(index), spec));
  if (!file) throw new Error(`cannot read ${spec}`);
  const sym = checker.getSymbolAtLocation(file);
  const names = (sym ? checker.getExportsOfModule(sym) : []).map((s) => {
    const target = s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s;
    const isValue = (target.flags & ts.SymbolFlags.Value) !== 0;
    return isValue ? s.name : `type ${s.name}`;
  });
  names.sort((a, b) => a.replace(/^type /, '').localeCompare(b.replace(/^type /, '')));
  out = out.replace(line, names.length ? `export {\n  ${names.join(',\n  ')},\n} from '${spec}';` : `// ${spec}: exports nothing`);
}
writeFileSync(index, out);
console.log(`packages/core/src/index.ts: ${stars.length} export * replaced by named exports`);
