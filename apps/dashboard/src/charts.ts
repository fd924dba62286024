import { OUTCOMES, type Outcome } from '@prbot/core';
import type { StageHistogram } from '@prbot/pipeline';
import type { DayCounts } from './overview.ts';

/**
 * Server-rendered SVG charts for the overview (issue 23 item 8): no script, no external CDN, so
 * they work behind the dashboard's CSP and in a mail client's screenshot alike. Every number
 * drawn is also in a `<title>` (hover) and a `data-` attribute, so the picture can be checked.
 */

const esc = (s: unknown) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** One colour per outcome, the same as the pills of the page (page.ts). */
const OUTCOME_COLOUR: Record<Outcome, string> = {
  ok: '#3fa66a',
  cycle_noop: '#b8c0cc',
  skipped_pause: '#d6dae1',
  skipped_cost: '#c9a0dc',
  skipped_policy: '#d6dae1',
  skipped_no_gap: '#d6dae1',
  model_failed: '#e06666',
  proposal_rejected: '#f0a840',
  apply_failed: '#d9534f',
  tests_failed: '#c0392b',
  pr_skipped_by_policy: '#d6dae1',
  pr_failed: '#a94442',
  infra_failed: '#7d7fd6',
  refreshed: '#4aa3c4',
  refresh_failed: '#f0c36d',
  closed_unwanted: '#999999',
};

const W = 640;
const H = 180;
const PAD = { left: 36, right: 8, top: 10, bottom: 22 };

function frame(label: string, testid: string, body: string, height = H): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${height}" width="${W}" height="${height}" role="img" aria-label="${esc(label)}" data-testid="${esc(testid)}" font-family="system-ui,sans-serif" font-size="10">${body}</svg>`;
}

/** Stacked bars: cycles per UTC day by outcome, oldest day on the left. `days` is newest first. */
export function outcomesPerDayChart(days: DayCounts[]): string {
  const ordered = [...days].reverse();
  const max = Math.max(1, ...ordered.map((d) => d.cycles));
  const plotH = H - PAD.top - PAD.bottom;
  const slot = (W - PAD.left - PAD.right) / Math.max(1, ordered.length);
  const bar = Math.max(2, slot * 0.7);
  const parts: string[] = [axis(max, plotH)];
  ordered.forEach((d, i) => {
    const x = PAD.left + i * slot + (slot - bar) / 2;
    let y = PAD.top + plotH;
    for (const outcome of OUTCOMES) {
      const n = d.by_outcome[outcome] ?? 0;
      if (n === 0) continue;
      const h = (n / max) * plotH;
      y -= h;
      parts.push(
        `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${bar.toFixed(1)}" height="${h.toFixed(1)}" fill="${OUTCOME_COLOUR[outcome]}" data-day="${esc(d.day)}" data-outcome="${outcome}" data-count="${n}"><title>${esc(d.day)} ${outcome}: ${n}</title></rect>`,
      );
    }
    if (i % 5 === 0 || i === ordered.length - 1)
      parts.push(
        `<text x="${(x + bar / 2).toFixed(1)}" y="${H - 6}" text-anchor="middle" fill="#667">${esc(d.day.slice(5))}</text>`,
      );
  });
  const total = ordered.reduce((a, d) => a + d.cycles, 0);
  if (total === 0) parts.push(empty('no cycles in these days'));
  return frame(`cycles per day by outcome, last ${ordered.length} days`, 'chart-outcomes', parts.join(''));
}

function axis(max: number, plotH: number): string {
  const y0 = PAD.top + plotH;
  return (
    `<line x1="${PAD.left}" y1="${y0}" x2="${W - PAD.right}" y2="${y0}" stroke="#ccd"/>` +
    `<text x="${PAD.left - 4}" y="${PAD.top + 8}" text-anchor="end" fill="#667">${max}</text>` +
    `<text x="${PAD.left - 4}" y="${y0}" text-anchor="end" fill="#667">0</text>`
  );
}

function empty(text: string): string {
  return `<text x="${W / 2}" y="${H / 2}" text-anchor="middle" fill="#99a">${esc(text)}</text>`;
}

/**
 * The upper bound of the histogram bucket that holds quantile `q` (what Prometheus'
 * histogram_quantile would interpolate inside): "p95 ≤ 30 s" is what the buckets can say.
 */
export function bucketQuantile(h: StageHistogram, q: number): number | null {
  if (h.count === 0) return null;
  const rank = q * h.count;
  const hit = h.buckets.find((b) => b.count >= rank);
  return !hit || hit.le === '+Inf' ? Infinity : Number(hit.le);
}

const seconds = (s: number | null) =>
  s === null ? '–' : s === Infinity ? '> 600 s' : s < 1 ? `${Math.round(s * 1000)} ms` : `${s} s`;

/** Per stage: the mean, and the bucket bounds holding the median and the 95th percentile, on a log scale. */
export function stageDurationsChart(hists: StageHistogram[]): string {
  const rowH = 30;
  const height = PAD.top + hists.length * rowH + PAD.bottom;
  const x0 = PAD.left + 40;
  const plotW = W - x0 - 210;
  // Log scale from 10 ms to 1000 s: stage times span five decades (a NOOP apply to a slow test run).
  const sx = (s: number) => x0 + (Math.log10(Math.min(Math.max(s, 0.01), 1000)) + 2) * (plotW / 5);
  const parts: string[] = [];
  for (const t of [0.01, 0.1, 1, 10, 100, 1000]) {
    parts.push(
      `<line x1="${sx(t).toFixed(1)}" y1="${PAD.top}" x2="${sx(t).toFixed(1)}" y2="${height - PAD.bottom}" stroke="#eef"/>`,
      `<text x="${sx(t).toFixed(1)}" y="${height - 6}" text-anchor="middle" fill="#667">${seconds(t)}</text>`,
    );
  }
  hists.forEach((h, i) => {
    const y = PAD.top + i * rowH + 6;
    const p50 = bucketQuantile(h, 0.5);
    const p95 = bucketQuantile(h, 0.95);
    const mean = h.count ? h.sum / h.count : null;
    parts.push(`<text x="${x0 - 6}" y="${y + 12}" text-anchor="end" fill="#333">${esc(h.stage)}</text>`);
    if (p50 !== null && p95 !== null && mean !== null) {
      const a = sx(p50 === Infinity ? 1000 : p50);
      const b = sx(p95 === Infinity ? 1000 : p95);
      parts.push(
        `<rect x="${x0}" y="${y}" width="${Math.max(1, a - x0).toFixed(1)}" height="16" fill="#3b7ddd" data-stage="${esc(h.stage)}" data-p50="${p50}"><title>${esc(h.stage)}: median ${seconds(p50)}</title></rect>`,
        `<rect x="${a.toFixed(1)}" y="${y}" width="${Math.max(1, b - a).toFixed(1)}" height="16" fill="#a9c6f0" data-stage="${esc(h.stage)}" data-p95="${p95}"><title>${esc(h.stage)}: 95th percentile ${seconds(p95)}</title></rect>`,
        `<line x1="${sx(mean).toFixed(1)}" y1="${y - 2}" x2="${sx(mean).toFixed(1)}" y2="${y + 18}" stroke="#1d2330" stroke-width="2" data-mean="${mean.toFixed(3)}"><title>${esc(h.stage)}: mean ${mean.toFixed(2)} s</title></line>`,
      );
    }
    parts.push(
      `<text x="${W - 200}" y="${y + 12}" fill="#556">${h.count ? `p50 ≤ ${seconds(p50)} · p95 ≤ ${seconds(p95)} · n ${h.count}` : 'no runs yet'}</text>`,
    );
  });
  return frame('stage run time: median and 95th percentile per stage', 'chart-durations', parts.join(''), height);
}

export interface BurnPoint {
  /** UTC hour of the day, 0-23. */
  hour: number;
  calls: number;
  tokens: number;
}

/**
 * The day's budget burn: calls and tokens charged up to each UTC hour, as shares of the caps,
 * with the cap as a line; the hours still to come are left blank.
 */
export function budgetBurnChart(points: BurnPoint[], caps: { calls: number; tokens: number }, nowHour: number): string {
  const plotH = H - PAD.top - PAD.bottom;
  const plotW = W - PAD.left - PAD.right;
  const sx = (h: number) => PAD.left + (h / 24) * plotW;
  const sy = (share: number) => PAD.top + plotH - Math.min(1.05, share) * (plotH / 1.05);
  const perHour = new Map(points.map((p) => [p.hour, p]));
  const series = (pick: (p: BurnPoint) => number, cap: number) => {
    let acc = 0;
    const pts: string[] = [`${sx(0).toFixed(1)},${sy(0).toFixed(1)}`];
    for (let h = 0; h <= Math.min(23, nowHour); h++) {
      acc += perHour.has(h) ? pick(perHour.get(h)!) : 0;
      pts.push(`${sx(h + 1).toFixed(1)},${sy(acc / Math.max(1, cap)).toFixed(1)}`);
    }
    return { pts: pts.join(' '), total: acc };
  };
  const calls = series((p) => p.calls, caps.calls);
  const tokens = series((p) => p.tokens, caps.tokens);
  const parts = [
    `<line x1="${PAD.left}" y1="${sy(1).toFixed(1)}" x2="${W - PAD.right}" y2="${sy(1).toFixed(1)}" stroke="#c0392b" stroke-dasharray="4 3"/>`,
    `<text x="${PAD.left - 4}" y="${(sy(1) + 3).toFixed(1)}" text-anchor="end" fill="#c0392b">cap</text>`,
    `<line x1="${PAD.left}" y1="${sy(0)}" x2="${W - PAD.right}" y2="${sy(0)}" stroke="#ccd"/>`,
    ...[0, 6, 12, 18, 24].map(
      (h) =>
        `<text x="${sx(h).toFixed(1)}" y="${H - 6}" text-anchor="${h === 24 ? 'end' : 'middle'}" fill="#667">${String(h).padStart(2, '0')}:00</text>`,
    ),
    `<polyline points="${calls.pts}" fill="none" stroke="#3b7ddd" stroke-width="2" data-series="calls" data-total="${calls.total}"><title>calls charged today: ${calls.total} of ${caps.calls}</title></polyline>`,
    `<polyline points="${tokens.pts}" fill="none" stroke="#f0a840" stroke-width="2" data-series="tokens" data-total="${tokens.total}"><title>tokens charged today: ${tokens.total} of ${caps.tokens}</title></polyline>`,
    `<text x="${W - PAD.right - 4}" y="${PAD.top + 10}" text-anchor="end" fill="#3b7ddd">calls ${calls.total} / ${caps.calls}</text>`,
    `<text x="${W - PAD.right - 4}" y="${PAD.top + 24}" text-anchor="end" fill="#c27c0e">tokens ${tokens.total} / ${caps.tokens}</text>`,
  ];
  return frame('budget charged through the day (UTC), as a share of the daily caps', 'chart-burn', parts.join(''));
}
