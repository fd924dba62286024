import { Counter, Gauge, Registry, type Metric, type MetricValueWithName } from 'prom-client';
import { countInFlight, QUEUE_NAMES, readStageDurations, STAGES, type QueueName, type Runtime } from '@prbot/pipeline';
import { oldestWaitingAge } from '@prbot/control';
import { dayCounts, repoOutcomeCounts } from './overview.ts';
import { readBacklog } from './backlog.ts';

const STATES = ['waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized', 'paused'] as const;

/**
 * Prometheus metrics, read from Redis on each scrape, so any dashboard instance reports the
 * whole system. Stage durations are histograms the workers keep in Redis (durations.ts).
 */
export function createMetrics(rt: Runtime) {
  const registry = new Registry();
  new Gauge({
    name: 'prbot_jobs',
    help: 'Jobs per state per queue',
    labelNames: ['queue', 'state'],
    registers: [registry],
    async collect() {
      this.reset();
      await Promise.all(
        QUEUE_NAMES.map(async (q) => {
          const [counts, paused] = await Promise.all([
            rt.queues[q].getJobCounts(...STATES.filter((s) => s !== 'paused')),
            rt.queues[q].isPaused(),
          ]);
          for (const [state, n] of Object.entries(counts)) this.set({ queue: q, state }, n);
          this.set({ queue: q, state: 'paused' }, paused ? 1 : 0);
        }),
      );
    },
  });
  new Gauge({
    name: 'prbot_oldest_waiting_age_seconds',
    help: 'How long the oldest job that could run has waited, per queue (0 when none waits): a stuck stage shows here before its backlog does',
    labelNames: ['queue'],
    registers: [registry],
    async collect() {
      this.reset();
      await Promise.all(
        QUEUE_NAMES.map(async (q) => this.set({ queue: q }, ((await oldestWaitingAge(rt, q)) ?? 0) / 1000)),
      );
    },
  });
  new Counter({
    name: 'prbot_outcomes_total',
    help: 'Cycles ended per outcome over the last 30 days',
    labelNames: ['outcome'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const d of await dayCounts(rt, 30))
        for (const [outcome, n] of Object.entries(d.by_outcome)) this.inc({ outcome }, n ?? 0);
    },
  });
  new Counter({
    name: 'prbot_outcomes_today_total',
    help: 'Cycles ended today (UTC) per outcome. Back to 0 at midnight, which rate() and increase() read as a counter reset: use this one for rates (prbot_outcomes_total drops by a day at midnight)',
    labelNames: ['outcome'],
    registers: [registry],
    async collect() {
      this.reset();
      const [today] = await dayCounts(rt, 1);
      for (const [outcome, n] of Object.entries(today!.by_outcome)) this.inc({ outcome }, n ?? 0);
    },
  });
  new Gauge({
    name: 'prbot_budget_remaining',
    help: "What is left of today's budget",
    labelNames: ['kind'],
    registers: [registry],
    async collect() {
      const b = await rt.budget.today();
      this.set({ kind: 'calls' }, b.calls.left);
      this.set({ kind: 'tokens' }, b.tokens.left);
    },
  });
  backlogGauges(rt, registry);
  repoMetrics(rt, registry);
  new Counter({
    name: 'prbot_stalled_jobs_total',
    help: 'Jobs found stalled per queue (their lock lapsed: the worker holding them died or froze); they ran again or failed',
    labelNames: ['queue'],
    registers: [registry],
    async collect() {
      this.reset();
      const counts = await rt.redis.hgetall(rt.keys.stalled());
      for (const q of QUEUE_NAMES) this.inc({ queue: q }, Number(counts[q] ?? 0));
    },
  });
  new Counter({
    name: 'prbot_worker_queue_recoveries_total',
    help: "Times a worker found one of its queues not consuming and recreated that queue's BullMQ Worker (queue-watch.ts)",
    labelNames: ['queue', 'reason'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const [field, n] of Object.entries(await rt.redis.hgetall(rt.keys.workerRecoveries()))) {
        const [queue, reason] = field.split('|');
        this.inc({ queue: queue ?? '', reason: reason ?? '' }, Number(n) || 0);
      }
    },
  });
  registry.registerMetric(stageDurations(rt));
  return {
    contentType: registry.contentType,
    render: () => registry.metrics(),
  };
}

/**
 * Stage durations: workers observe them into buckets kept in Redis (durations.ts), so every
 * dashboard instance reports the whole system. prom-client's Histogram can only observe values,
 * not adopt counts aggregated elsewhere, so this is a collector in prom-client's own Metric shape
 * (the registry formats it like any histogram).
 */
function stageDurations(rt: Runtime): Metric {
  const name = 'prbot_stage_duration_seconds';
  const help = 'Time a stage job took';
  return {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    async get() {
      const values: MetricValueWithName<string>[] = [];
      for (const h of await readStageDurations(rt.redis, rt.keys, STAGES)) {
        for (const b of h.buckets)
          values.push({ metricName: `${name}_bucket`, labels: { stage: h.stage, le: b.le }, value: b.count });
        values.push(
          { metricName: `${name}_sum`, labels: { stage: h.stage }, value: h.sum },
          { metricName: `${name}_count`, labels: { stage: h.stage }, value: h.count },
        );
      }
      return { name, help, type: 'histogram', aggregator: 'sum', values };
    },
    reset() {},
  } as unknown as Metric;
}

/**
 * The per-repository view (issue 23): which repository the cycles ended for, and which holds the
 * cycles in flight. Labelled by configured name; the totals above stay unlabelled, so existing
 * queries keep their meaning.
 */
function repoMetrics(rt: Runtime, registry: Registry): void {
  new Counter({
    name: 'prbot_repo_outcomes_total',
    help: 'Cycles ended per repository and outcome over the last 30 days',
    labelNames: ['repo', 'outcome'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const [repo, byOutcome] of await repoOutcomeCounts(rt, 30))
        for (const [outcome, n] of byOutcome) this.inc({ repo, outcome }, n);
    },
  });
  new Gauge({
    name: 'prbot_repo_cycles_in_flight',
    help: 'Gaps with a cycle in flight per configured repository (what repos[].maxInFlight caps)',
    labelNames: ['repo'],
    registers: [registry],
    async collect() {
      this.reset();
      const views = [...(await rt.views()).values()];
      const counts = await Promise.all(views.map((v) => countInFlight(v.redis, v.keys)));
      views.forEach((v, i) => this.set({ repo: v.repo.name }, counts[i]!));
    },
  });
}

/**
 * The backlog per queue (backlog.ts), one Redis read per scrape shared by four gauges. The same
 * numbers are served as JSON at /api/backlog, which KEDA's metrics-api scaler reads.
 */
function backlogGauges(rt: Runtime, registry: Registry): void {
  let pending: Promise<Awaited<ReturnType<typeof readBacklog>>> | undefined;
  // Each gauge's collect() runs on the same scrape: the first starts the read, the rest share it.
  const read = () => (pending ??= readBacklog(rt).finally(() => setImmediate(() => (pending = undefined))));
  const gauge = (name: string, help: string, pick: (b: Awaited<ReturnType<typeof readBacklog>>[QueueName]) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['queue'],
      registers: [registry],
      async collect() {
        this.reset();
        const all = await read();
        for (const q of QUEUE_NAMES) this.set({ queue: q }, pick(all[q]));
      },
    });
  gauge(
    'prbot_jobs_ready',
    'Jobs a worker could take now per queue: waiting + prioritized + delayed and due (0 while paused)',
    (b) => b.ready,
  );
  gauge(
    'prbot_queue_load',
    'Jobs ready plus jobs active per queue: the worker slots the queue could use now (what the KEDA ScaledObjects read)',
    (b) => b.load,
  );
  gauge(
    'prbot_workers_alive',
    'Worker processes that said within the last 20 s that they serve the queue',
    (b) => b.workers,
  );
}
