import type { QueueName } from '@prbot/pipeline';
import { budgetBurnChart, outcomesPerDayChart, stageDurationsChart } from './charts.ts';
import type { Overview } from './overview.ts';

const esc = (s: unknown) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
/**
 * Switchable for one purpose: the positive control in test/hostile-page.test.ts turns it off in
 * its own process (back in a `finally`) to show a forge's `javascript:` URL then becomes a link.
 * No variable or config field reaches this object.
 */
export const prLinkDefence = { httpOnly: true };

// A PR URL comes from a forge's answer: only http(s) becomes a link (a `javascript:` URL is XSS on click).
const link = (u: string | null | undefined, text: string) =>
  u && (!prLinkDefence.httpOnly || /^https?:\/\/[^\s"'<>]+$/i.test(u))
    ? `<a href="${esc(u)}" rel="noreferrer">${text}</a>`
    : '';
const pct = (used: number, cap: number) => Math.min(100, Math.round((100 * used) / Math.max(cap, 1)));

export interface PageOptions {
  csrfToken: string | null;
  readOnly: boolean;
  refreshSeconds: number;
}

/** The overview an operator leaves open: server-rendered, refreshes itself, no build step. */
export function renderOverview(o: Overview, p: PageOptions): string {
  const b = o.budget;
  const outcomes = (counts: Record<string, number | undefined>) =>
    Object.entries(counts)
      .sort((a, c) => (c[1] ?? 0) - (a[1] ?? 0))
      .map(([k, v]) => `<span class="pill o-${esc(k)}" data-outcome="${esc(k)}">${esc(k)} <b>${v}</b></span>`)
      .join(' ') || '<span class="muted">none yet</span>';
  const week = o.week.reduce<Record<string, number>>((acc, d) => {
    for (const [k, v] of Object.entries(d.by_outcome)) acc[k] = (acc[k] ?? 0) + (v ?? 0);
    return acc;
  }, {});
  const queueRows = o.queues
    .map((q) => {
      const action = q.paused ? 'resume' : 'pause';
      const button =
        p.readOnly || !p.csrfToken
          ? ''
          : `<form method="post" action="/api/queues/${esc(q.queue)}/${action}"><input type="hidden" name="_csrf" value="${esc(p.csrfToken)}"><button data-testid="${action}-${esc(q.queue)}">${action}</button></form>`;
      return `<tr data-queue="${esc(q.queue)}"><td>${esc(q.queue)}</td><td class="${q.paused ? 'paused' : 'running'}">${q.paused ? 'paused' : 'running'}</td><td>${q.counts.waiting + q.counts.prioritized}</td><td>${q.counts.active}</td><td>${q.counts.delayed}</td><td>${q.counts.failed}</td><td>${q.oldestWaitingAgeMs === null ? '–' : `${Math.round(q.oldestWaitingAgeMs / 1000)} s`}</td><td>${button}</td></tr>`;
    })
    .join('');
  const many = o.repos.length > 1;
  const repoCell = (r: { repo?: string }) =>
    many ? `<td data-repo="${esc(r.repo ?? '')}">${esc(r.repo ?? '')}</td>` : '';
  // Links only to configured names (never a name read from a record): ?repo= is all a filter takes.
  const filter = many
    ? `<div class="card" data-testid="repo-filter">repository: ${[null, ...o.repos]
        .map((n) =>
          n === o.repo
            ? `<b>${esc(n ?? 'all')}</b>`
            : `<a href="/${n === null ? '' : `?repo=${encodeURIComponent(n)}`}">${esc(n ?? 'all')}</a>`,
        )
        .join(' · ')}</div>`
    : '';
  const discovered = o.discovered.length
    ? `<div class="card" data-testid="discovered">discovered: ${o.discovered
        .map((d) => `<span data-discovered="${esc(d.name)}">${esc(d.name)}${d.drained ? ' <b>drained</b>' : ''}</span>`)
        .join(' · ')}</div>`
    : '';
  const recent = o.recent
    .map(
      (r) =>
        `<tr>${repoCell(r)}<td>${esc(r.ended_at.slice(0, 19).replace('T', ' '))}</td><td>${esc(r.gap_text ?? '(produce)')}</td><td><span class="pill o-${esc(r.outcome)}">${esc(r.outcome)}</span></td><td class="reason">${esc(r.reason.slice(0, 200))}</td><td>${link(r.pr_url, 'PR')}</td></tr>`,
    )
    .join('');
  const failing = o.failing
    .map(
      (g) =>
        `<li>${esc(g.gap_text)} — <b>${g.consecutive_failures}</b> failures in a row (last: ${esc(g.last_outcome)})</li>`,
    )
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>prbot</title>
<meta http-equiv="refresh" content="${p.refreshSeconds}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d2330;background:#f7f8fa}
h1{font-size:20px;margin:0 0 4px} h2{font-size:15px;margin:24px 0 8px}
.muted{color:#778} .card{background:#fff;border:1px solid #dde1e8;border-radius:8px;padding:12px 16px;margin-bottom:12px}
.bar{background:#e8ebf0;border-radius:4px;height:14px;width:320px;display:inline-block;vertical-align:middle;margin-right:8px}
.bar span{display:block;height:100%;border-radius:4px;background:#3b7ddd}
table{border-collapse:collapse;width:100%} td,th{padding:4px 8px;border-bottom:1px solid #eceff3;text-align:left;vertical-align:top}
.pill{display:inline-block;padding:1px 8px;border-radius:10px;background:#eceff3;margin:2px 0}
.o-ok{background:#d5f5df}.o-tests_failed,.o-model_failed,.o-apply_failed,.o-pr_failed{background:#fbdada}.o-proposal_rejected{background:#fde9c8}.o-infra_failed{background:#e3e3f7}.o-refreshed{background:#d5eef5}.o-refresh_failed{background:#fde9c8}.o-closed_unwanted{background:#eee}
.paused{color:#b5560b;font-weight:600}.running{color:#1f7a3a} .reason{color:#556;max-width:520px}
form{margin:0} button{cursor:pointer} .chart svg{max-width:100%;height:auto}
</style></head><body>
<h1>prbot</h1><div class="muted">refreshes every ${p.refreshSeconds} s · <a href="/queues">Bull Board</a> · <a href="/stats?source=bot">stats</a> · <a href="/metrics">metrics</a>${p.readOnly ? ' · read-only' : ''}</div>
<h2>Budget ${esc(b.day)} (UTC)</h2>
<div class="card">
<div><span class="bar"><span style="width:${pct(b.calls.used, b.calls.cap)}%"></span></span><span data-testid="budget-calls">${b.calls.used} / ${b.calls.cap} calls</span></div>
<div><span class="bar"><span style="width:${pct(b.tokens.used, b.tokens.cap)}%"></span></span><span data-testid="budget-tokens">${b.tokens.used} / ${b.tokens.cap} tokens</span></div>
<div class="muted">resets ${esc(b.resetsAt)}</div>
<div class="chart">${budgetBurnChart(b.hours ?? [], { calls: b.calls.cap, tokens: b.tokens.cap }, o.hourNow)}</div></div>
<h2>Outcomes</h2>
<div class="card"><div data-testid="outcomes-today">today: ${outcomes(o.today.by_outcome)}</div><div data-testid="outcomes-week">last 7 days: ${outcomes(week)}</div></div>
<h2>Cycles per day, last 30 days</h2>
<div class="card chart">${outcomesPerDayChart(o.month)}</div>
<h2>Stage run time</h2>
<div class="card chart">${stageDurationsChart(o.durations)}</div>
<h2>Queues</h2>
<div class="card"><table><tr><th>queue</th><th>state</th><th>waiting</th><th>active</th><th>delayed</th><th>failed</th><th>oldest waiting</th><th></th></tr>${queueRows}</table></div>
<h2>Gaps failing 3 or more times in a row</h2>
<div class="card" data-testid="failing">${failing ? `<ul>${failing}</ul>` : '<span class="muted">none</span>'}</div>
<h2>Recent cycles${o.repo ? ` of ${esc(o.repo)}` : ''}</h2>
${filter}${discovered}
<div class="card"><table data-testid="recent"><tr>${many ? '<th>repository</th>' : ''}<th>ended (UTC)</th><th>gap</th><th>outcome</th><th>reason</th><th></th></tr>${recent}</table></div>
</body></html>`;
}

export function isQueueName(s: string, names: readonly QueueName[]): s is QueueName {
  return (names as readonly string[]).includes(s);
}
