/** Line windows of a file too large to show whole: 1-based, inclusive. */
export interface Window {
  from: number;
  to: number;
}

export interface WindowOptions {
  /** Lines kept from the top (imports, setup) and the bottom (where a new test goes). */
  head: number;
  tail: number;
  /** Lines either side of each relevant line. */
  radius: number;
  /** Most characters the rendered windows may take. */
  maxChars: number;
}

/**
 * Picks windows: the file's head, its tail, then the neighbourhood of each relevant line (a
 * symbol the gap names, a line mentioning it) in order, as long as the rendering fits.
 */
export function chooseWindows(lines: readonly string[], relevant: readonly number[], o: WindowOptions): Window[] {
  const n = lines.length;
  const wanted: Window[] = [
    { from: 1, to: Math.min(n, o.head) },
    { from: Math.max(1, n - o.tail + 1), to: n },
    ...relevant.map((l) => ({ from: Math.max(1, l - o.radius), to: Math.min(n, l + o.radius) })),
  ];
  let chosen: Window[] = [];
  for (const w of wanted) {
    const next = merge([...chosen, w]);
    if (renderedChars(lines, next) > o.maxChars) {
      // Not even the head fits: shrink this window to what does.
      if (chosen.length === 0) chosen = shrinkToFit(lines, w, o.maxChars);
      continue;
    }
    chosen = next;
  }
  return chosen;
}

function shrinkToFit(lines: readonly string[], w: Window, maxChars: number): Window[] {
  let to = w.from - 1;
  let chars = 0;
  while (to < w.to && chars + lineChars(lines, to + 1) <= maxChars) chars += lineChars(lines, ++to);
  return to >= w.from ? [{ from: w.from, to }] : [];
}

function merge(ws: Window[]): Window[] {
  const s = [...ws].sort((a, b) => a.from - b.from);
  const out: Window[] = [];
  for (const w of s) {
    const last = out.at(-1);
    if (last && w.from <= last.to + 1) last.to = Math.max(last.to, w.to);
    else out.push({ ...w });
  }
  return out;
}

const NUM_WIDTH = 6; // "  123| "

function lineChars(lines: readonly string[], l: number): number {
  return (lines[l - 1]?.length ?? 0) + NUM_WIDTH + 1;
}

function renderedChars(lines: readonly string[], ws: Window[]): number {
  let c = 0;
  for (const w of ws) {
    c += 8; // the "…" separator
    for (let l = w.from; l <= w.to; l++) c += lineChars(lines, l);
  }
  return c;
}

/** Numbered lines, windows separated by a line saying which lines were left out. */
export function renderWindows(lines: readonly string[], ws: Window[]): string {
  const out: string[] = [];
  let next = 1;
  for (const w of ws) {
    if (w.from > next) out.push(`     … lines ${next}-${w.from - 1} not shown`);
    for (let l = w.from; l <= w.to; l++) out.push(`${String(l).padStart(5)}| ${lines[l - 1]}`);
    next = w.to + 1;
  }
  if (next <= lines.length) out.push(`     … lines ${next}-${lines.length} not shown`);
  return out.join('\n');
}

/** "1-40,200-260" */
export function rangesText(ws: Window[]): string {
  return ws.map((w) => (w.from === w.to ? `${w.from}` : `${w.from}-${w.to}`)).join(',');
}

/** The complement of the windows in 1..n, as ranges. */
export function leftOut(n: number, ws: Window[]): Window[] {
  const out: Window[] = [];
  let next = 1;
  for (const w of merge(ws)) {
    if (w.from > next) out.push({ from: next, to: w.from - 1 });
    next = w.to + 1;
  }
  if (next <= n) out.push({ from: next, to: n });
  return out;
}
