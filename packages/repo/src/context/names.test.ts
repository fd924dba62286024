import { execFileSync } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRepoContext } from './repo-context.ts';
import { gapNames } from './names.ts';

// Per language, a file far too large to show whole, whose class head is hundreds of lines above
// the method the gap names, and a decoy class with a method of the same name.
const filler = (n: number, line: (i: number) => string) => Array.from({ length: n }, (_, i) => line(i)).join('\n');

const FILES: Record<string, string> = {
  'src/cachetools/fifo.py': `import collections


class Cache:
    def popitem(self):
        return 'DECOY-PY'


class FIFOCache(Cache):
    """First In First Out (FIFO) cache implementation."""

    def __init__(self, maxsize):
        self.__order = collections.OrderedDict()

${filler(300, (i) => `    def helper_${i}(self):\n        return ${i}\n`)}
    def popitem(self):
        """Remove and return the (key, value) pair first inserted."""
        try:
            key = next(iter(self.__order))
        except StopIteration:
            raise KeyError('%s is empty' % type(self).__name__) from None
        else:
            return (key, self.pop(key))  # BODY-PY

${filler(40, (i) => `    def tail_${i}(self):\n        return ${i}\n`)}

def helper_fn(x):
    return x  # MODULE-FN
`,
  'src/lru.ts': `export class Other {
  popitem(): string {
    return 'DECOY-TS';
  }
}

export class LRUCache<K, V> {
  private order = new Map<K, V>();

${filler(300, (i) => `  helper${i}(): number {\n    return ${i};\n  }\n`)}
  popitem(): [K, V] {
    const first = this.order.keys().next();
    if (first.done) throw new Error('empty');
    const v = this.order.get(first.value)!;
    this.order.delete(first.value);
    return [first.value, v]; // BODY-TS
  }

${filler(40, (i) => `  tail${i}(): number {\n    return ${i};\n  }\n`)}
}
`,
  'cache/fifo.go': `package cache

type LRU struct{ items []int }

func (c *LRU) PopItem() int {
	return -1 // DECOY-GO
}

type FIFO struct {
	items []int
}

${filler(300, (i) => `func (c *FIFO) Helper${i}() int {\n\treturn ${i}\n}\n`)}
func (c *FIFO) PopItem() int {
	first := c.items[0]
	c.items = c.items[1:]
	return first // BODY-GO
}

${filler(40, (i) => `func (c *FIFO) Tail${i}() int {\n\treturn ${i}\n}\n`)}
`,
  'src/fifo.rs': `pub struct Lru { items: Vec<i32> }

impl Lru {
    pub fn pop_item(&mut self) -> i32 {
        -1 // DECOY-RS
    }
}

pub struct Fifo {
    items: Vec<i32>,
}

impl Fifo {
${filler(300, (i) => `    pub fn helper_${i}(&self) -> i32 {\n        ${i}\n    }\n`)}
    pub fn pop_item(&mut self) -> Option<i32> {
        if self.items.is_empty() {
            return None;
        }
        Some(self.items.remove(0)) // BODY-RS
    }

${filler(40, (i) => `    pub fn tail_${i}(&self) -> i32 {\n        ${i}\n    }\n`)}
}
`,
};

let dir: string;
let commit: string;
const opts = { maxTokens: 12000, mapTokens: 2000, maxFileTokens: 1500, maxFiles: 6 };
const sh = (...args: string[]) =>
  execFileSync('git', args, {
    cwd: dir,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_AUTHOR_NAME: 't',
      GIT_AUTHOR_EMAIL: 't@t',
      GIT_COMMITTER_NAME: 't',
      GIT_COMMITTER_EMAIL: 't@t',
    },
  }).trim();

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'prbot-names-'));
  sh('init', '-q', '-b', 'main');
  for (const [p, text] of Object.entries(FILES)) {
    await mkdir(path.dirname(path.join(dir, p)), { recursive: true });
    await writeFile(path.join(dir, p), text);
  }
  sh('add', '-A');
  sh('commit', '-q', '-m', 'init');
  commit = sh('rev-parse', 'HEAD');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

// What the prompt shows of the repository: the definitions (before the map: packages/model's
// prompt.test.ts), then the files (model/prompt.ts renders both in this order).
const prompt = async (gap: string) => {
  const c = await buildRepoContext(dir, commit, gap, opts);
  const text = [
    ...c.definitions.map((d) => d.body ?? ''),
    ...(c.names.missing.length
      ? [`Named in the gap but not found in the repository: ${c.names.missing.join(', ')}.`]
      : []),
    'Repository map',
    ...c.files.map((f) => f.text),
  ].join('\n');
  return { c, text };
};

describe('the prompt shows the definitions of what the gap names', () => {
  it.each([
    ['Python', 'Speed up `FIFOCache.popitem()`', 'FIFOCache.popitem', 'BODY-PY', 'DECOY-PY', 'src/cachetools/fifo.py'],
    ['TypeScript', 'Make `LRUCache.popitem` O(1)', 'LRUCache.popitem', 'BODY-TS', 'DECOY-TS', 'src/lru.ts'],
    ['Go', 'Make FIFO.PopItem() avoid the copy', 'FIFO.PopItem', 'BODY-GO', 'DECOY-GO', 'cache/fifo.go'],
    ['Rust', 'Speed up `Fifo::pop_item`', 'Fifo::pop_item', 'BODY-RS', 'DECOY-RS', 'src/fifo.rs'],
  ])(
    "%s: a gap naming %s shows that method's body, before the map, and not the decoy",
    async (_lang, gap, name, body, decoy, file) => {
      const { c, text } = await prompt(gap);
      expect(c.names).toEqual({ found: [name], missing: [] });
      expect(c.definitions[0]).toMatchObject({ text: name, path: file, scoped: true });
      expect(text).toContain(body);
      expect(text.indexOf(body)).toBeLessThan(text.indexOf('Repository map'));
      expect(c.definitions.map((d) => d.body).join('\n')).not.toContain(decoy);
      // The file itself, shown in windows, has the method's lines too.
      const shown = c.files.find((f) => f.path === file)!;
      expect(shown.shown).toBe('windows');
      expect(shown.text).toContain(body);
    },
  );

  it.each([
    ['Python', 'Speed up the FIFO cache', 'BODY-PY', 'src/cachetools/fifo.py'],
    ['TypeScript', 'Speed up src/lru.ts', 'BODY-TS', 'src/lru.ts'],
  ])(
    'control (%s): without the name, the windows of the same file do not reach the method',
    async (_lang, gap, body) => {
      const { text } = await prompt(gap);
      expect(text).not.toContain(body);
    },
  );

  it('module.function, path:line, and names not found are told apart in the record', async () => {
    const { c, text } = await prompt('Fix `fifo.helper_fn`, the bug near src/fifo.rs:3 and `NoSuchThing.nope`');
    expect(c.names.found).toEqual(expect.arrayContaining(['fifo.helper_fn', 'src/fifo.rs:3']));
    expect(c.names.missing).toEqual(['NoSuchThing.nope']);
    expect(text).toContain('MODULE-FN');
    expect(text).toContain('DECOY-RS'); // line 3 of src/fifo.rs is inside Lru::pop_item
    expect(text).toMatch(/Named in the gap but not found in the repository: NoSuchThing\.nope/);
  });
});

describe('gapNames', () => {
  it('reads dotted, Rust and path:line names, backticked or written as a call, and leaves prose alone', () => {
    expect(
      gapNames(
        'Speed up `FIFOCache.popitem()` and os.path.join(), e.g. in README.md; see src/a.py:12 and `truncate(text, max)`',
      ).map((n) => n.text),
    ).toEqual(['src/a.py:12', 'FIFOCache.popitem', 'truncate', 'os.path.join']);
    expect(gapNames('Use `Vec::with_capacity` in `Fifo::new`')[1]).toEqual({
      text: 'Fifo::new',
      name: 'new',
      qualifiers: ['Fifo'],
    });
  });
});
