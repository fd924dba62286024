import { describe, expect, it } from 'vitest';
import type { StageHistogram } from '@prbot/pipeline';
import { bucketQuantile, budgetBurnChart, outcomesPerDayChart, stageDurationsChart } from './charts.ts';
import type { DayCounts } from './overview.ts';

/** Every `<tag … attr="v" …>` of one tag name, as attribute maps: the chart read back as data. */
function elements(svg: string, tag: string): Record<string, string>[] {
  return [...svg.matchAll(new RegExp(`<${tag}\\s([^>]*?)/?>`, 'g'))].map((m) =>
    Object.fromEntries([...m[1]!.matchAll(/([\w-]+)="([^"]*)"/g)].map((a) => [a[1]!, a[2]!])),
  );
}

function day(d: string, by_outcome: DayCounts['by_outcome']): DayCounts {
  const cycles = Object.values(by_outcome).reduce((a, b) => a + (b ?? 0), 0);
  return { day: d, cycles, by_outcome, pr_share: 0 };
}

describe('dashboard charts', () => {
  it('outcomes per day: one segment per day and outcome, heights in proportion to the counts', () => {
    const days = [day('2026-12-07', { ok: 4, tests_failed: 2 }), day('2026-12-06', {}), day('2026-12-05', { ok: 2 })];
    const rects = elements(outcomesPerDayChart(days), 'rect');
    expect(rects.map((r) => [r['data-day'], r['data-outcome'], r['data-count']])).toEqual([
      ['2026-12-05', 'ok', '2'],
      ['2026-12-07', 'ok', '4'],
      ['2026-12-07', 'tests_failed', '2'],
    ]);
    const h = (i: number) => Number(rects[i]!.height);
    expect(h(1)).toBeCloseTo(2 * h(0), 0); // drawn to 0.1 px
    expect(h(1)).toBeCloseTo(2 * h(2), 0);
    // Stacked: the failures sit on top of the day's ok bar.
    expect(Number(rects[2]!.y) + h(2)).toBeCloseTo(Number(rects[1]!.y), 0);
    // Oldest on the left.
    expect(Number(rects[0]!.x)).toBeLessThan(Number(rects[1]!.x));
  });

  it('outcomes per day says so when there is nothing to draw', () => {
    const svg = outcomesPerDayChart([day('2026-12-07', {}), day('2026-12-06', {})]);
    expect(elements(svg, 'rect')).toEqual([]);
    expect(svg).toContain('no cycles in these days');
  });

  const hist = (stage: string, perBucket: Record<string, number>, sum: number): StageHistogram => {
    const bounds = ['0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '30', '60', '120', '300', '600', '+Inf'];
    let acc = 0;
    const buckets = bounds.map((le) => ({ le, count: (acc += perBucket[le] ?? 0) }));
    return { stage, buckets, count: acc, sum };
  };

  it('reads the median and the 95th percentile off the histogram buckets', () => {
    // 100 runs: 60 under 1 s, 35 under 10 s, 5 over 600 s.
    const h = hist('test', { '1': 60, '10': 35, '+Inf': 5 }, 4000);
    expect(bucketQuantile(h, 0.5)).toBe(1);
    expect(bucketQuantile(h, 0.95)).toBe(10);
    expect(bucketQuantile(h, 0.99)).toBe(Infinity);
    expect(bucketQuantile(hist('pr', {}, 0), 0.5)).toBeNull();
  });

  it('stage durations: the bars follow the quantiles, a longer stage draws a longer bar', () => {
    const svg = stageDurationsChart([
      hist('apply', { '0.1': 10 }, 0.5),
      hist('test', { '10': 9, '60': 1 }, 100),
      hist('pr', {}, 0),
    ]);
    const medians = elements(svg, 'rect').filter((r) => r['data-p50']);
    expect(medians.map((r) => [r['data-stage'], r['data-p50']])).toEqual([
      ['apply', '0.1'],
      ['test', '10'],
    ]);
    expect(Number(medians[1]!.width)).toBeGreaterThan(Number(medians[0]!.width));
    expect(elements(svg, 'line').find((l) => l['data-mean'])?.['data-mean']).toBe('0.050');
    expect(svg).toContain('no runs yet');
  });

  it('budget burn: cumulative per hour up to now, against the cap', () => {
    const svg = budgetBurnChart(
      [
        { hour: 1, calls: 2, tokens: 1000 },
        { hour: 5, calls: 3, tokens: 4000 },
        { hour: 20, calls: 9, tokens: 9 },
      ],
      { calls: 10, tokens: 10_000 },
      6,
    );
    const lines = elements(svg, 'polyline');
    const calls = lines.find((l) => l['data-series'] === 'calls')!;
    // Hour 20 is still to come at 06:xx: not drawn, not counted.
    expect(calls['data-total']).toBe('5');
    expect(lines.find((l) => l['data-series'] === 'tokens')!['data-total']).toBe('5000');
    const ys = calls.points!.split(' ').map((p) => Number(p.split(',')[1]));
    expect(ys).toHaveLength(8); // the origin, then hours 0-6
    // Never falls, and rises exactly at the hours that charged.
    for (let i = 1; i < ys.length; i++) expect(ys[i]!).toBeLessThanOrEqual(ys[i - 1]!);
    expect(new Set(ys).size).toBe(3);
  });

  it('escapes text that reaches the picture', () => {
    const svg = stageDurationsChart([hist('<script>x</script>', { '1': 1 }, 1)]);
    expect(svg).not.toContain('<script>');
    expect(svg).toContain('&#60;script&#62;');
  });
});
