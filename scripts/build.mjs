#!/usr/bin/env node
// `pnpm build`: compiles the prbot command (apps/cli) to apps/cli/dist/ so production runs
// `node apps/cli/dist/prbot.js …` with no TypeScript at run time.
//
// Why a bundle (esbuild) and not tsc per package: the workspace packages' exports point at
// their TypeScript sources, which development, tests and every spawned `node --import tsx`
// child rely on. Bundling the workspace code into one output keeps that untouched, needs no
// export conditions, and leaves dist/ with a handful of files that load fast. npm packages
// stay external: they are the production dependencies of @prbot/cli, installed beside dist/
// (`pnpm deploy --prod`). A package the bundle imports that @prbot/cli does not declare fails
// the build here, not the deployment later.
import { cpSync, readFileSync, rmSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cliDir = path.join(root, 'apps', 'cli');
const outdir = path.join(cliDir, 'dist');
const declared = new Set(
  Object.keys(JSON.parse(readFileSync(path.join(cliDir, 'package.json'), 'utf8')).dependencies ?? {}),
);
const builtins = new Set(builtinModules);

/** '@scope/name/sub' → '@scope/name'; 'name/sub' → 'name'. */
const packageName = (spec) =>
  spec
    .split('/')
    .slice(0, spec.startsWith('@') ? 2 : 1)
    .join('/');

const undeclared = new Map();
const externals = {
  name: 'prbot-externals',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('node:') || builtins.has(args.path)) return { external: true };
      const name = packageName(args.path);
      if (name.startsWith('@prbot/')) return undefined; // workspace code: bundled from source
      if (!declared.has(name)) undeclared.set(name, path.relative(root, args.importer));
      return { external: true };
    });
    // CommonJS packages loaded through createRequire(import.meta.url)('x') never pass onResolve.
    b.onLoad({ filter: /\.ts$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8');
      for (const m of text.matchAll(/createRequire\(import\.meta\.url\)\(\s*'([^']+)'\s*\)/g)) {
        const name = packageName(m[1]);
        if (!builtins.has(name) && !declared.has(name)) undeclared.set(name, path.relative(root, args.path));
      }
      return undefined;
    });
  },
};

const started = performance.now();
rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: { prbot: path.join(cliDir, 'src', 'prbot.ts') },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  // Workspace packages resolve to src/*.ts through their "exports"; tsconfig paths are not needed.
  plugins: [externals],
  logLevel: 'warning',
  chunkNames: 'chunks/[name]-[hash]',
});
if (undeclared.size) {
  const lines = [...undeclared].map(([name, from]) => `  ${name} (imported by ${from})`).join('\n');
  console.error(
    `build: apps/cli/package.json must list these runtime dependencies (pnpm add <name> --filter @prbot/cli):\n${lines}`,
  );
  process.exit(1);
}
// pipeline's Lua scripts are read at run time from `new URL('./lua/…', import.meta.url)`: whichever
// output file (entry or chunk) holds that code finds them beside it.
for (const dir of [outdir, path.join(outdir, 'chunks')])
  cpSync(path.join(root, 'packages', 'pipeline', 'src', 'lua'), path.join(dir, 'lua'), { recursive: true });
console.log(`build: apps/cli/dist/prbot.js in ${Math.round(performance.now() - started)} ms`);
