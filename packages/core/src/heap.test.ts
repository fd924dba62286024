import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { HEAP_GROWING_PERCENT, tuneHeapGrowth } from './heap.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

describe('tuneHeapGrowth', () => {
  it("leaves the heap to the operator's own flags, on the command line or in NODE_OPTIONS", () => {
    expect(tuneHeapGrowth(['--max-old-space-size=2048'], '')).toEqual({ heap: 'operator flags' });
    expect(tuneHeapGrowth([], '--enable-source-maps --max_old_space_size=300')).toEqual({ heap: 'operator flags' });
    expect(tuneHeapGrowth(['--heap-growing-percent=80'], '')).toEqual({ heap: 'operator flags' });
    expect(tuneHeapGrowth(['--max-heap-size', '512'], '')).toEqual({ heap: 'operator flags' });
  });

  it('sets the growth V8 reads at its next full collection (the flag is in force in that process)', () => {
    // A separate process (the flag is process-wide): after a full collection, V8's verbose GC
    // trace prints the factor it used for the old generation's next limit (4.0 here without it).
    const script = `
      import { tuneHeapGrowth } from ${JSON.stringify(path.join(here, 'heap.ts'))};
      import v8 from 'node:v8';
      console.log(JSON.stringify(tuneHeapGrowth([], '')));
      v8.setFlagsFromString('--trace-gc-verbose');
      globalThis.gc();
    `;
    const out = execFileSync(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script],
      { encoding: 'utf8', cwd: path.join(here, '..', '..', '..') },
    );
    expect(out).toContain(JSON.stringify({ heapGrowingPercent: HEAP_GROWING_PERCENT }));
    const factor = /\[HeapController\] Limit: old size: \d+ KB, new limit: \d+ KB \(([\d.]+)\)/.exec(out)?.[1];
    expect(Number(factor)).toBe(1 + HEAP_GROWING_PERCENT / 100);
  });
});
