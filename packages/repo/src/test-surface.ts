import path from 'node:path/posix';
import picomatch from 'picomatch';
import { canonicalPath } from './guardrails.ts';

/**
 * What the configured setup and test commands reach in the base tree: the package.json scripts
 * they run (directly, or through `npm run`/`pnpm`/`yarn` calls in other scripts, Makefile
 * recipes, tox envs, nox sessions and shell scripts), the repository files they run or read, and
 * the programs they start. An outside check once had `"test": "pnpm lint && vitest run"` green
 * after the change stripped `lint` of its prettier check: the test guard looked only at the
 * scripts the commands named, not at what those scripts call.
 *
 * This reads the base commit, never the change: a script the base does not reach can only become
 * reachable through an edit of one it does reach, and that edit is refused.
 */
export interface TestSurface {
  /** package.json script names reached (with their pre/post scripts), in any package.json. */
  scripts: Set<string>;
  /** Those the commands name themselves (`npm test`, `sh -c 'pnpm lint'`), not through another script. */
  direct: Set<string>;
  /** Canonical repository paths the commands run or read (scripts, Makefile, tox.ini …). */
  files: Set<string>;
  /** Program names the reached commands start (vitest, eslint, prettier, pytest, go, cargo …). */
  tools: Set<string>;
}

/** The base commit's text of a repository file, or null when it has none. */
export type BaseReader = (file: string) => Promise<string | null>;

const MAKE: Record<string, string[]> = {
  make: ['GNUmakefile', 'makefile', 'Makefile'],
  gmake: ['GNUmakefile', 'makefile', 'Makefile'],
  just: ['justfile', '.justfile'],
  task: ['Taskfile.yml', 'Taskfile.yaml'],
  rake: ['Rakefile'],
};
const PACKAGE_MANAGERS = new Set(['npm', 'pnpm', 'yarn', 'bun']);
/** Subcommands of pnpm/yarn that are not script names (`pnpm lint` runs the script lint, `pnpm install` does not). */
const PM_BUILTINS = new Set([
  'install',
  'i',
  'ci',
  'add',
  'remove',
  'rm',
  'exec',
  'dlx',
  'x',
  'create',
  'update',
  'up',
  'link',
  'unlink',
  'publish',
  'pack',
  'why',
  'list',
  'ls',
  'outdated',
  'audit',
  'config',
  'set',
  'store',
  'cache',
  'init',
  'import',
  'rebuild',
  'prune',
  'fetch',
  'dedupe',
  'patch',
  'env',
  'node',
  'workspace',
  'workspaces',
  'recursive',
  'info',
  'view',
]);
/** Programs that run the rest of their argv as another command. */
const WRAPPERS = new Set([
  'env',
  'cross-env',
  'cross-env-shell',
  'time',
  'nice',
  'nohup',
  'exec',
  'command',
  'npx',
  'pnpx',
  'bunx',
  'dotenv',
  'c8',
  'nyc',
  'xvfb-run',
  'timeout',
  'uv',
  'poetry',
  'pipenv',
  'hatch',
  'pdm',
  'rye',
  'coverage',
]);
const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ksh']);
const INTERPRETERS = new Set(['node', 'tsx', 'ts-node', 'deno', 'bun', 'python', 'python3', 'ruby', 'perl', 'php']);
const KNOWN_PROGRAMS = new Set([
  ...PACKAGE_MANAGERS,
  ...INTERPRETERS,
  ...SHELLS,
  'make',
  'gmake',
  'tox',
  'nox',
  'pytest',
  'py.test',
  'vitest',
  'jest',
  'mocha',
  'ava',
  'tap',
  'uvu',
  'playwright',
  'go',
  'cargo',
  'tsc',
  'eslint',
  'prettier',
  'xo',
  'biome',
]);

export async function testSurface(commands: string[][], read: BaseReader): Promise<TestSurface> {
  const s: TestSurface = { scripts: new Set(), direct: new Set(), files: new Set(), tools: new Set() };
  const cache = new Map<string, Promise<string | null>>();
  const text = (f: string) => {
    if (!cache.has(f))
      cache.set(
        f,
        read(f).catch(() => null),
      );
    return cache.get(f)!;
  };
  const seen = new Set<string>();
  // Depth 0: the configured argv and what `sh -c` text in it holds; a script's body is deeper.
  const queue: { words: string[]; direct: boolean }[] = commands.map((c) => ({ words: [...c], direct: true }));
  // Bounded: a script that calls itself (or a Makefile that recurses) must not loop.
  for (let steps = 0; queue.length > 0 && steps < 2000; steps++) {
    const { words, direct } = queue.shift()!;
    const key = words.join('\0');
    if (seen.has(key)) continue;
    seen.add(key);
    const before = new Set(s.scripts);
    const shellText = SHELLS.has(path.basename(unwrap(words)[0] ?? '')) && words.includes('-c');
    for (const next of await follow(words, s, text)) queue.push({ words: next, direct: direct && shellText });
    if (direct) for (const n of s.scripts) if (!before.has(n)) s.direct.add(n);
  }
  return s;
}

/** The commands one simple command leads to, recording what it reaches in `s`. */
async function follow(
  argv: string[],
  s: TestSurface,
  text: (f: string) => Promise<string | null>,
): Promise<string[][]> {
  const words = unwrap(argv, s.tools);
  if (words.length === 0) return [];
  const out: string[][] = [];
  const prog = path.basename(words[0]!);
  s.tools.add(prog);
  // `cargo clippy`, `go vet`: the subcommand is the tool whose configuration counts.
  if ((prog === 'cargo' || prog === 'go') && words[1] && !words[1].startsWith('-')) s.tools.add(`${prog}-${words[1]}`);
  noteFiles(words, s);
  if (prog === 'python' || prog === 'python3') {
    const m = words.indexOf('-m');
    if (m !== -1 && words[m + 1]) s.tools.add(words[m + 1]!);
  }
  if (SHELLS.has(prog)) {
    const c = words.indexOf('-c');
    if (c !== -1 && words[c + 1]) return commandsIn(words[c + 1]!);
    const file = words.slice(1).find((w) => !w.startsWith('-'));
    if (file) out.push(...(await shellFile(file, s, text)));
    return out;
  }
  if (/^\.?\.?\//.test(words[0]!) || (words[0]!.includes('/') && !words[0]!.startsWith('/'))) {
    if (/\.(?:sh|bash)$/.test(words[0]!) || !/\.[a-z]+$/i.test(words[0]!))
      out.push(...(await shellFile(words[0]!, s, text)));
    return out;
  }
  if (PACKAGE_MANAGERS.has(prog)) {
    for (const name of scriptNames(prog, words.slice(1))) out.push(...(await script(name, s, text)));
    return out;
  }
  if (['npm-run-all', 'npm-run-all2', 'run-s', 'run-p'].includes(prog)) {
    const pkg = parseScripts(await text('package.json'));
    for (const pat of words.slice(1).filter((w) => !w.startsWith('-'))) {
      const isMatch = picomatch(pat.replace(/:/g, '/'));
      for (const name of Object.keys(pkg))
        if (isMatch(name.replace(/:/g, '/'))) out.push(...(await script(name, s, text)));
    }
    return out;
  }
  if (prog === 'concurrently') {
    for (const w of words.slice(1).filter((x) => !x.startsWith('-'))) {
      if (/^(?:npm|pnpm|yarn|bun):/.test(w)) out.push(...(await script(w.slice(w.indexOf(':') + 1), s, text)));
      else out.push(...commandsIn(w));
    }
    return out;
  }
  if (MAKE[prog] || prog === '$(MAKE)' || prog === '${MAKE}') {
    const files = MAKE[prog] ?? MAKE.make!;
    for (const f of files) s.files.add(canonicalPath(f));
    const dir = words.indexOf('-C');
    if (dir !== -1) return out; // another directory's Makefile: named, not followed
    const targets = words.slice(1).filter((w) => !w.startsWith('-') && !w.includes('='));
    for (const f of files) {
      const t = await text(f);
      if (t !== null) {
        out.push(...makeRecipes(t, targets));
        break;
      }
    }
    return out;
  }
  if (prog === 'tox') {
    s.files.add('tox.ini');
    const t = await text('tox.ini');
    if (t !== null) out.push(...toxCommands(t));
    return out;
  }
  if (prog === 'nox') {
    s.files.add('noxfile.py');
    const t = await text('noxfile.py');
    if (t !== null) out.push(...noxCommands(t));
    return out;
  }
  return out;
}

/** The command a wrapper runs (`npx vitest` → `vitest`); the wrappers themselves go into `tools` (c8, nyc read configuration too). */
function unwrap(argv: string[], tools?: Set<string>): string[] {
  let w = argv.filter((x) => x !== '');
  for (let guard = 0; guard < 10 && w.length > 0; guard++) {
    while (w.length > 0 && /^[A-Za-z_][A-Za-z0-9_]*=/.test(w[0]!)) w = w.slice(1);
    const prog = path.basename(w[0] ?? '');
    if (
      w.length > 0 &&
      (prog === 'npm' || prog === 'pnpm' || prog === 'yarn') &&
      ['exec', 'dlx', 'x'].includes(w.find((x, i) => i > 0 && !x.startsWith('-')) ?? '')
    ) {
      const i = w.findIndex((x, k) => k > 0 && !x.startsWith('-'));
      w = w.slice(i + 1);
      continue;
    }
    if (!WRAPPERS.has(prog)) break;
    tools?.add(prog);
    const dash = w.indexOf('--');
    // `c8 --reporter lcov npm run x`: an option's value reads like a program, so a program the
    // guard knows, when one follows, is where the wrapped command starts.
    const known = w.findIndex((x, i) => i > 0 && !x.startsWith('-') && KNOWN_PROGRAMS.has(path.basename(x)));
    if (dash !== -1) w = w.slice(dash + 1);
    else if (known !== -1) w = w.slice(known);
    else {
      // `uv run pytest`, `poetry run pytest`, `timeout 60 go test`, `npx -y vitest`
      let i = 1;
      while (
        i < w.length &&
        (w[i]!.startsWith('-') || /^\d+[smh]?$/.test(w[i]!) || w[i] === 'run' || /^[A-Za-z_][A-Za-z0-9_]*=/.test(w[i]!))
      )
        i++;
      w = w.slice(i);
    }
  }
  return w;
}

/** Which package.json scripts a package-manager command runs (`npm test`, `pnpm run lint`, `yarn lint`). */
function scriptNames(prog: string, args: string[]): string[] {
  const words: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') break;
    // Options with a value: `--filter x`, `-C dir`, `--prefix dir`, `-w name`.
    if (/^(?:--filter|-F|-C|--dir|--prefix|-w|--workspace)$/.test(a)) {
      i++;
      continue;
    }
    if (!a.startsWith('-')) words.push(a);
  }
  const [first, second] = words;
  if (!first) return prog === 'yarn' ? [] : [];
  if (first === 'test' || first === 't' || first === 'tst') return prog === 'bun' ? [] : ['test'];
  if (first === 'start' || first === 'stop' || first === 'restart') return [first];
  if ((first === 'run' || first === 'run-script' || first === 'rum' || first === 'urn') && second) return [second];
  if (prog !== 'npm' && prog !== 'bun' && !PM_BUILTINS.has(first)) return [first];
  return [];
}

async function script(name: string, s: TestSurface, text: (f: string) => Promise<string | null>): Promise<string[][]> {
  const out: string[][] = [];
  const scripts = parseScripts(await text('package.json'));
  for (const n of [`pre${name}`, name, `post${name}`]) {
    if (s.scripts.has(n)) continue;
    s.scripts.add(n);
    const body = scripts[n];
    if (typeof body === 'string') out.push(...commandsIn(body));
  }
  return out;
}

function parseScripts(text: string | null): Record<string, unknown> {
  if (text === null) return {};
  try {
    const v = JSON.parse(text) as { scripts?: unknown };
    return v.scripts && typeof v.scripts === 'object' ? (v.scripts as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

async function shellFile(
  file: string,
  s: TestSurface,
  text: (f: string) => Promise<string | null>,
): Promise<string[][]> {
  const p = path.normalize(file.replace(/^\.\//, ''));
  if (p.startsWith('..') || p.startsWith('/')) return [];
  s.files.add(canonicalPath(p));
  const t = await text(p);
  return t === null ? [] : commandsIn(t.replace(/^#!.*$/m, ''));
}

/** Relative paths a command runs or reads (`node test/run.js`, `sh scripts/test.sh`). */
function noteFiles(words: string[], s: TestSurface): void {
  for (const a of words) {
    if (
      a.startsWith('-') ||
      a.startsWith('/') ||
      a.endsWith('/') ||
      /[\s$*{}]/.test(a) ||
      !/[/.]/.test(a) ||
      a.includes('..') ||
      a.includes('://')
    )
      continue;
    const p = path.normalize(a.replace(/^\.\//, ''));
    if (/\.[A-Za-z0-9]+$/.test(p) || p.includes('/')) s.files.add(canonicalPath(p));
  }
}

/**
 * The simple commands of a shell text: words split at `&&`, `||`, `;`, `|`, `&`, newlines and
 * parentheses, quotes removed. No expansion: the guard needs which programs and scripts run, and
 * a word it cannot read (`$(cmd)`) only leaves that word out.
 */
export function commandsIn(text: string): string[][] {
  const out: string[][] = [];
  let words: string[] = [];
  let cur = '';
  let has = false;
  const end = () => {
    if (has) words.push(cur);
    cur = '';
    has = false;
  };
  const flush = () => {
    end();
    if (words.length) out.push(words);
    words = [];
  };
  const t = text.replace(/\\\n/g, ' ');
  for (let i = 0; i < t.length; i++) {
    const ch = t[i]!;
    if (ch === "'" || ch === '"') {
      const close = t.indexOf(ch, i + 1);
      const stop = close === -1 ? t.length : close;
      cur += t.slice(i + 1, stop);
      has = true;
      i = stop;
    } else if (ch === '#' && !has) {
      const nl = t.indexOf('\n', i);
      i = nl === -1 ? t.length : nl - 1;
    } else if (/[\s]/.test(ch) && ch !== '\n') end();
    else if (ch === '\n' || ch === ';' || ch === '&' || ch === '|' || ch === '(' || ch === ')') flush();
    else {
      cur += ch;
      has = true;
    }
  }
  flush();
  // `if`, `then`, `do` … open a compound command: the command is what follows.
  return out
    .map((w) =>
      ['if', 'then', 'else', 'elif', 'do', 'while', 'until', '!', '{', '}'].includes(w[0]!) ? w.slice(1) : w,
    )
    .filter((w) => w.length > 0 && !['fi', 'done', 'esac'].includes(w[0]!));
}

/** Recipe lines of the targets (and of their prerequisites), as commands; the first target when none is named. */
function makeRecipes(text: string, targets: string[]): string[][] {
  const rules = new Map<string, { deps: string[]; recipe: string[] }>();
  let first: string | null = null;
  let current: { deps: string[]; recipe: string[] }[] = [];
  for (const line of text.replace(/\\\n/g, ' ').split('\n')) {
    if (line.startsWith('\t')) {
      for (const r of current) r.recipe.push(line.slice(1).replace(/^[@+-]+/, ''));
      continue;
    }
    const m = /^([^:#=\s][^:#=]*?)\s*::?(?!=)\s*([^=;#]*)(?:;(.*))?$/.exec(line);
    if (!m) {
      if (line.trim() && !line.startsWith('#')) current = [];
      continue;
    }
    current = [];
    for (const name of m[1]!.trim().split(/\s+/)) {
      if (name.startsWith('.')) continue;
      first ??= name;
      const r = rules.get(name) ?? { deps: [], recipe: [] };
      r.deps.push(...m[2]!.trim().split(/\s+/).filter(Boolean));
      if (m[3]) r.recipe.push(m[3]);
      rules.set(name, r);
      current.push(r);
    }
  }
  const todo = targets.length ? [...targets] : first ? [first] : [];
  const done = new Set<string>();
  const out: string[][] = [];
  while (todo.length) {
    const t = todo.shift()!;
    if (done.has(t)) continue;
    done.add(t);
    const r = rules.get(t);
    if (!r) continue;
    todo.push(...r.deps);
    for (const line of r.recipe) out.push(...commandsIn(line.replace(/\$\(MAKE\)|\$\{MAKE\}/g, 'make')));
  }
  return out;
}

/** Every tox env's `commands =` (and `commands_pre`), continuation lines included. */
function toxCommands(text: string): string[][] {
  const out: string[][] = [];
  let inEnv = false;
  let inCommands = false;
  for (const line of text.split('\n')) {
    if (/^\s*\[/.test(line)) {
      inEnv = /^\s*\[testenv(?::[^\]]*)?\]/.test(line);
      inCommands = false;
      continue;
    }
    if (!inEnv) continue;
    const m = /^(commands(?:_pre|_post)?)\s*=\s*(.*)$/.exec(line);
    if (m) {
      inCommands = true;
      if (m[2]!.trim()) out.push(...commandsIn(m[2]!.replace(/\{[^}]*\}/g, '')));
      continue;
    }
    if (inCommands && /^\s+\S/.test(line)) out.push(...commandsIn(line.trim().replace(/\{[^}]*\}/g, '')));
    else if (line.trim()) inCommands = false;
  }
  return out;
}

/** The string arguments of every `session.run(…)` in a noxfile, as commands. */
function noxCommands(text: string): string[][] {
  const out: string[][] = [];
  for (const m of text.matchAll(/\bsession\.run\s*\(([^)]*)\)/g)) {
    const args = [...m[1]!.matchAll(/(?<![\w=]\s*)(?:^|,)\s*(?:"([^"]*)"|'([^']*)')/g)].map((a) => (a[1] ?? a[2])!);
    if (args.length) out.push(args);
  }
  return out;
}

/**
 * What the commands reach by their own words alone (no file read): the scripts they name, the
 * files they run, the programs they start. `testSurface` starts here and follows each further.
 */
export function commandSurface(commands: string[][]): TestSurface {
  const s: TestSurface = { scripts: new Set(), direct: new Set(), files: new Set(), tools: new Set() };
  for (const argv of commands) {
    const words = unwrap(argv, s.tools);
    if (words.length === 0) continue;
    const prog = path.basename(words[0]!);
    s.tools.add(prog);
    if ((prog === 'cargo' || prog === 'go') && words[1] && !words[1].startsWith('-'))
      s.tools.add(`${prog}-${words[1]}`);
    noteFiles(words, s);
    for (const f of MAKE[prog] ?? []) s.files.add(canonicalPath(f));
    if (prog === 'tox') s.files.add('tox.ini');
    if (prog === 'nox') s.files.add('noxfile.py');
    if (PACKAGE_MANAGERS.has(prog))
      for (const n of scriptNames(prog, words.slice(1)))
        for (const k of [`pre${n}`, n, `post${n}`]) {
          s.scripts.add(k);
          s.direct.add(k);
        }
  }
  return s;
}
