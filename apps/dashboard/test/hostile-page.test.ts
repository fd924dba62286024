import { describe, expect, it } from 'vitest';
import type { CycleRecord } from '@prbot/core';
import { withDefenceOff } from '@prbot/test-support';
import type { Overview } from '../src/overview.ts';
import { prLinkDefence, renderOverview } from '../src/page.ts';

// What a hostile forge or PRD put in a cycle record, rendered by the real page function: the
// PR URL is the forge's `html_url`, the gap text the PRD's, the reason quotes the forge.
function page(record: Partial<CycleRecord>): string {
  const overview = {
    budget: { day: '2026-11-29', calls: { used: 0, cap: 1 }, tokens: { used: 0, cap: 1 }, resetsAt: 'x' },
    today: { day: '2026-11-29', cycles: 0, by_outcome: {}, pr_share: 0 },
    week: [],
    month: [],
    durations: [],
    hourNow: 0,
    repos: ['app'],
    discovered: [],
    repo: null,
    recent: [
      {
        ended_at: '2026-11-29T00:00:00Z',
        outcome: 'ok',
        reason: 'r',
        gap_text: 'g',
        pr_url: null,
        ...record,
      } as CycleRecord,
    ],
    failing: [],
    queues: [],
  } as unknown as Overview;
  return renderOverview(overview, { csrfToken: null, readOnly: true, refreshSeconds: 30 });
}

describe('the overview page with hostile record fields', () => {
  it.each([
    'javascript:alert(document.cookie)',
    'JaVaScRiPt:alert(1)',
    ' javascript:alert(1)',
    'data:text/html,<script>alert(1)</script>',
    'vbscript:x',
    '//evil.example/x',
  ])('a PR URL of %j becomes no link', (url) => {
    const html = page({ pr_url: url });
    expect(html).not.toMatch(/href="(?!\/queues|\/stats|\/metrics)/);
    expect(html).not.toMatch(/<script>alert/);
  });

  it.each(['javascript:alert(document.cookie)', 'data:text/html,x', '//evil.example/x'])(
    'positive control: with the http(s)-only check off, a PR URL of %j becomes a link',
    async (url) => {
      const html = await withDefenceOff(prLinkDefence, 'httpOnly', () => page({ pr_url: url }));
      expect(html).toContain(`<a href="${url}" rel="noreferrer">PR</a>`);
    },
  );

  it('an https PR URL is a link, escaped', () => {
    expect(page({ pr_url: 'https://git.example/team/app/pulls/1' })).toContain(
      '<a href="https://git.example/team/app/pulls/1" rel="noreferrer">PR</a>',
    );
  });

  it('gap text and reason are escaped', () => {
    const html = page({ gap_text: '<img src=x onerror=alert(1)>', reason: '"><script>alert(1)</script>' });
    expect(html).not.toContain('<img src=x');
    expect(html).not.toContain('<script>alert(1)');
  });
});
