import { describe, expect, it } from 'vitest';
import type { RepoContext } from '@prbot/repo';
import { buildPrompt } from './prompt.ts';

const context = (o: Partial<RepoContext>): RepoContext => ({
  fileCount: 3,
  map: ['src/fifo.py: FIFOCache'],
  mapOmitted: 0,
  files: [],
  notShown: [],
  shown: [],
  definitions: [],
  names: { found: [], missing: [] },
  ...o,
});

describe('the prompt shows what the gap names before the repository map', () => {
  it('definitions first, then the map; names not found are said', () => {
    const c = context({
      definitions: [
        {
          text: 'FIFOCache.popitem',
          path: 'src/fifo.py',
          from: 700,
          to: 702,
          scoped: true,
          body: '  700|     def popitem(self):\n  701|         key = next(iter(self.__order))\n  702|         return (key, self.pop(key))',
        },
        { text: 'helper', path: 'src/small.py', from: 1, to: 2, scoped: true, body: null },
      ],
      names: { found: ['FIFOCache.popitem', 'helper'], missing: ['NoSuch.thing'] },
    });
    const user = buildPrompt({
      gapText: 'Speed up `FIFOCache.popitem()`',
      prdPath: 'docs/PRD.md',
      context: c,
      history: '',
    })[1]!.content;
    const defs = user.indexOf(
      'Definitions of what the gap names:\n--- FIFOCache.popitem: src/fifo.py lines 700-702\n  700|     def popitem(self):',
    );
    expect(defs).toBeGreaterThan(-1);
    expect(defs).toBeLessThan(user.indexOf('Repository map'));
    expect(user).toContain('--- helper: src/small.py lines 1-2 (the file is shown whole below)');
    expect(user).toContain('Named in the gap but not found in the repository: NoSuch.thing.');
  });

  it('no names: no definitions part', () => {
    const user = buildPrompt({ gapText: 'Add a CLI', prdPath: 'docs/PRD.md', context: context({}), history: '' })[1]!
      .content;
    expect(user).not.toContain('Definitions of what the gap names');
  });
});
