// The README's configuration reference names every key the config schema accepts, so a new key
// cannot ship undocumented.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { configSchema } from '@prbot/config';
import { REPO_ROOT } from '@prbot/test-support';

type Def = {
  type: string;
  innerType?: unknown;
  in?: unknown;
  shape?: Record<string, unknown>;
  options?: unknown[];
  valueType?: unknown;
};
const def = (s: unknown): Def | undefined => (s as { _zod?: { def: Def } })?._zod?.def;

/** Every key path of a zod schema ("forge.prDir"); records contribute their value's keys. */
function keyPaths(schema: unknown, prefix = '', out = new Set<string>()): Set<string> {
  let s = schema;
  for (
    let d = def(s);
    d && ['default', 'prefault', 'optional', 'nullable', 'pipe', 'readonly'].includes(d.type);
    d = def(s)
  )
    s = d.innerType ?? d.in;
  const d = def(s);
  if (d?.type === 'object') {
    for (const [k, v] of Object.entries(d.shape!)) {
      out.add(prefix + k);
      keyPaths(v, `${prefix}${k}.`, out);
    }
  } else if (d?.type === 'union') for (const o of d.options!) keyPaths(o, prefix, out);
  else if (d?.type === 'record') keyPaths(d.valueType, prefix, out);
  return out;
}

describe('README configuration reference', () => {
  it('names every config key', () => {
    const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
    const start = readme.indexOf('## Configuration reference');
    const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
    const paths = [...keyPaths(configSchema)];
    expect(paths.length).toBeGreaterThan(50);
    // A key is documented when its name is a word inside some code span: `prDir`, `perCycle.calls`, `{kind, baseUrl}`.
    const words = new Set([...section.matchAll(/`([^`]+)`/g)].flatMap((m) => m[1]!.split(/[^A-Za-z0-9_]+/)));
    const missing = paths.filter((p) => !words.has(p.split('.').at(-1)!));
    expect(missing).toEqual([]);
  });
});
