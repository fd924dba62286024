import v8 from 'node:v8';

/**
 * How far V8 lets the old generation grow past the live heap before its next full collection,
 * for prbot's long-running processes: 1.4×, what V8 itself picks for a ~512 MB heap limit.
 * V8 scales this factor with the heap limit it derives from physical memory, up to 4× on a
 * machine with a few GB. A worker's live heap is ~40 MB, but each cycle makes objects that live
 * for a child process or a model call (milliseconds to seconds), so they outlive young-generation
 * collections and pile up in the old generation: at 4× the worker peaked at 220-230 MB RSS in
 * `pnpm bench` (200 cycles, all queues, one process) and at 1.4× at ~150 MB, the same cycles a
 * second (docs/BENCHMARKS.md). Set at run time because V8 reads it at every full collection;
 * that is what makes it hold for `node dist/prbot.js`, the `prbot` bin, `pnpm worker` and the
 * image alike, where a command-line flag would hold only where someone remembered it.
 */
export const HEAP_GROWING_PERCENT = 40;

const OPERATOR_HEAP_FLAG = /^--(heap[-_]growing[-_]percent|max[-_]old[-_]space[-_]size|max[-_]heap[-_]size)(=|$)/;

/**
 * Applies HEAP_GROWING_PERCENT unless the operator sized the heap (on the command line or in
 * NODE_OPTIONS): their flags win. Returns the setting in force, for the start log.
 */
export function tuneHeapGrowth(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions = process.env.NODE_OPTIONS ?? '',
): { heapGrowingPercent: number } | { heap: 'operator flags' } {
  if ([...execArgv, ...nodeOptions.split(/\s+/)].some((a) => OPERATOR_HEAP_FLAG.test(a)))
    return { heap: 'operator flags' };
  v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  return { heapGrowingPercent: HEAP_GROWING_PERCENT };
}
