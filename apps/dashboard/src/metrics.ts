import { Counter, Gauge, Registry } from 'prom-client';
import { QUEUE_NAMES, readStageDurations, STAGES, type Runtime } from '@prbot/core';
import { oldestWaitingAge } from '@prbot/control';
import { dayCounts } from './overview.ts';

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
          const [counts, paused] = await Promise.all([rt.queues[q].getJobCounts(...STATES.filter((s) => s !== 'paused')), rt.queues[q].isPaused()]);
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
      await Promise.all(QUEUE_NAMES.map(async (q) => this.set({ queue: q }, ((await oldestWaitingAge(rt, q)) ?? 0) / 1000)));
    },
  });
  new Counter({
    name: 'prbot_outcomes_total',
    help: 'Cycles ended per outcome over the last 30 days',
    labelNames: ['outcome'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const d of await dayCounts(rt, 30)) for (const [outcome, n] of Object.entries(d.by_outcome)) this.inc({ outcome }, n ?? 0);
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
  return {
    contentType: registry.contentType,
    async render(): Promise<string> {
      const base = await registry.metrics();
      const hist = await readStageDurations(rt.redis, rt.keys, STAGES);
      const lines = ['# HELP prbot_stage_duration_seconds Time a stage job took', '# TYPE prbot_stage_duration_seconds histogram'];
      for (const h of hist) {
        for (const b of h.buckets) lines.push(`prbot_stage_duration_seconds_bucket{stage="${h.stage}",le="${b.le}"} ${b.count}`);
        lines.push(`prbot_stage_duration_seconds_sum{stage="${h.stage}"} ${h.sum}`, `prbot_stage_duration_seconds_count{stage="${h.stage}"} ${h.count}`);
      }
      return `${base}\n${lines.join('\n')}\n`;
    },
  };
}
