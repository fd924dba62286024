// The observability pack (deploy/observability) reads only metrics prbot really exports: every
// PromQL expression in the alert rules and the Grafana dashboard is parsed with Prometheus's own
// PromQL grammar (@prometheus-io/lezer-promql), and each metric it selects must be one a running
// dashboard process serves on /metrics, scraped here with basic auth as Prometheus would.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { parser } from '@prometheus-io/lezer-promql';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, REPO_ROOT, type Harness } from '@prbot/test-support';

const RULES = path.join(REPO_ROOT, 'deploy', 'observability', 'prometheus-rules.yaml');
const GRAFANA = path.join(REPO_ROOT, 'deploy', 'observability', 'grafana-dashboard.json');

/** The metric names an expression selects, or the first syntax error (with its position). */
export function selectedMetrics(expr: string): { metrics: string[]; error?: string } {
  const metrics: string[] = [];
  let error: string | undefined;
  parser.parse(expr).iterate({
    enter(n) {
      if (n.type.isError && !error)
        error = `PromQL syntax error at ${n.from}: ${JSON.stringify(expr.slice(Math.max(0, n.from - 20), n.from + 20))}`;
      if (n.name === 'VectorSelector') {
        const id = n.node.getChild('Identifier');
        if (id) metrics.push(expr.slice(id.from, id.to));
      }
    },
  });
  return { metrics, error };
}

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const rulesOf = (text: string): Rule[] =>
  (YAML.parse(text) as { groups: { name: string; rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
const exprsOfDashboard = (d: { panels: { title: string; targets?: { expr: string }[] }[] }) =>
  d.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `panel "${p.title}"`, expr: t.expr })));

/** Every metric the expressions use that `exported` lacks, and every syntax error, as lines. */
function problems(exprs: { where: string; expr: string }[], exported: Set<string>): string[] {
  const out: string[] = [];
  for (const { where, expr } of exprs) {
    const { metrics, error } = selectedMetrics(expr);
    if (error) out.push(`${where}: ${error}`);
    if (metrics.length === 0) out.push(`${where}: selects no metric`);
    for (const m of metrics) if (!exported.has(m)) out.push(`${where}: ${m} is not exported by /metrics`);
  }
  return out;
}

let h: Harness;
let dashboard: ResultPromise | undefined;
let exported: Set<string>;
let scraped = '';

beforeAll(async () => {
  h = await createHarness();
  let out = '';
  // The dashboard as deployed: its own process, behind basic auth, on a port of its own.
  dashboard = execa(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(REPO_ROOT, 'apps', 'dashboard', 'src', 'main.ts'),
      '--config',
      h.configFile,
      '--host',
      '127.0.0.1',
      '--port',
      '0',
    ],
    {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH!, PRBOT_DASHBOARD_USER: 'prom', PRBOT_DASHBOARD_PASSWORD: 'scrape-pw-8c1f' },
      extendEnv: false,
      reject: false,
      buffer: false,
    },
  );
  dashboard.stdout!.on('data', (c) => (out += String(c)));
  dashboard.stderr!.on('data', (c) => (out += String(c)));
  let url: string | undefined;
  // Up to 50 s: node and tsx start slowly on a busy 2-core machine (the hook allows 60 s).
  for (let i = 0; i < 1000 && !url; i++) {
    url = /prbot dashboard on (http:\/\/[^/\s]+)\//.exec(out)?.[1];
    if (!url) await new Promise((r) => setTimeout(r, 50));
  }
  if (!url) throw new Error(`the dashboard did not start:\n${out}`);
  const auth = { authorization: `Basic ${Buffer.from('prom:scrape-pw-8c1f').toString('base64')}` };
  expect((await fetch(`${url}/metrics`)).status).toBe(401);
  const res = await fetch(`${url}/metrics`, { headers: auth });
  expect(res.status).toBe(200);
  scraped = await res.text();
  // Prometheus' text format: a `# TYPE` line per metric family, samples or not; a histogram's
  // samples are its _bucket, _sum and _count series.
  exported = new Set<string>();
  for (const [, name, type] of scraped.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    exported.add(name!);
    if (type === 'histogram' || type === 'summary')
      for (const s of ['_bucket', '_sum', '_count']) exported.add(name! + s);
  }
});

afterAll(async () => {
  dashboard?.kill('SIGTERM');
  await dashboard;
  await h.cleanup();
});

describe('observability pack', () => {
  it('/metrics exports the backlog, presence, stall and outcome metrics the pack is built on', () => {
    for (const m of [
      'prbot_jobs_ready',
      'prbot_queue_load',
      'prbot_workers_alive',
      'prbot_stalled_jobs_total',
      'prbot_outcomes_today_total',
      'prbot_oldest_waiting_age_seconds',
      'prbot_budget_remaining',
      'prbot_stage_duration_seconds',
      'prbot_worker_queue_recoveries_total',
    ]) {
      expect(exported, m).toContain(m);
    }
    expect(scraped).toMatch(/^prbot_jobs_ready\{queue="test"\} 0$/m);
  });

  it('every alert rule parses as PromQL and uses only exported metrics; each alert has a severity, a summary and a description', () => {
    const rules = rulesOf(readFileSync(RULES, 'utf8'));
    expect(rules.map((r) => r.alert).sort()).toEqual([
      'PrbotBudgetExhausted',
      'PrbotFailureRateHigh',
      'PrbotJobWaitingTooLong',
      'PrbotMetricsMissing',
      'PrbotNoTestWorker',
      'PrbotQueueRecovered',
      'PrbotStalledJobs',
    ]);
    expect(
      problems(
        rules.map((r) => ({ where: `alert ${r.alert}`, expr: r.expr })),
        exported,
      ),
    ).toEqual([]);
    for (const r of rules) {
      expect(['critical', 'warning', 'info'], r.alert).toContain(r.labels?.severity);
      expect(r.annotations?.summary, r.alert).toBeTruthy();
      expect(r.annotations?.description, r.alert).toBeTruthy();
      if (r.for !== undefined) expect(r.for, r.alert).toMatch(/^\d+[smh]$/);
    }
  });

  it('every Grafana panel query parses as PromQL and uses only exported metrics; panel ids are unique', () => {
    const d = JSON.parse(readFileSync(GRAFANA, 'utf8'));
    const exprs = exprsOfDashboard(d);
    expect(exprs.length).toBeGreaterThanOrEqual(11);
    expect(problems(exprs, exported)).toEqual([]);
    const ids = d.panels.map((p: { id: number }) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('the check can fail: a planted unknown metric, a misspelt one and a syntax error are each reported', () => {
    const rules = readFileSync(RULES, 'utf8').replace(
      'expr: min by (kind) (prbot_budget_remaining) <= 0',
      'expr: min by (kind) (prbot_budget_remaining_calls) <= 0',
    );
    expect(
      problems(
        rulesOf(rules).map((r) => ({ where: `alert ${r.alert}`, expr: r.expr })),
        exported,
      ),
    ).toEqual(['alert PrbotBudgetExhausted: prbot_budget_remaining_calls is not exported by /metrics']);
    const d = JSON.parse(readFileSync(GRAFANA, 'utf8'));
    d.panels[0].targets.push({ refId: 'Z', expr: 'sum(rate(prbot_not_a_metric_total[5m]))' });
    d.panels[1].targets[0].expr = 'max by (queue) (prbot_queue_load'; // unbalanced
    const found = problems(exprsOfDashboard(d), exported);
    expect(found).toContain('panel "Jobs ready per queue": prbot_not_a_metric_total is not exported by /metrics');
    expect(found.some((l) => l.startsWith('panel "Load per queue (what KEDA scales on)": PromQL syntax error'))).toBe(
      true,
    );
  });
});
