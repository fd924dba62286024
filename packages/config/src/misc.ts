import { z } from 'zod';
import { envName, positiveInt } from './common.ts';

export const recordsSection = z.strictObject({ dir: z.string().default('data/_bot/cycles') }).prefault({});

export const observerSection = z
  .strictObject({ url: z.url().optional(), timeoutMs: positiveInt.default(10_000) })
  .prefault({});

export const policySection = z
  .strictObject({
    maxGapsPerRun: positiveInt.default(10),
    maxConsecutiveFailures: positiveInt.default(5),
    /** A human closing a bot PR unmerged is a "no": retry such a gap only when this is true. */
    retryClosedPRs: z.boolean().default(false),
    /** After a gap's cycle ends, produce leaves the gap alone this long (a scheduled produce must not hammer a failing gap). */
    coolDownMs: z
      .number()
      .int()
      .min(0)
      .default(30 * 60_000),
    /** The cool-down after `cycle_noop` (the model found nothing to change): asking again soon costs a call for the same answer. */
    noopCoolDownMs: z
      .number()
      .int()
      .min(0)
      .default(24 * 3_600_000),
  })
  .prefault({});

export const botSection = z
  .strictObject({ name: z.string().default('prbot'), email: z.string().default('prbot@localhost') })
  .prefault({});

export const workerSection = z
  .strictObject({
    shutdownGraceMs: positiveInt.default(30_000),
    /** BullMQ's job lock; a killed worker's job is taken up again once it lapses. */
    lockDurationMs: positiveInt.default(30_000),
    stalledIntervalMs: positiveInt.default(30_000),
    /** How often a job may be found stalled before it fails (and its cycle records the stage's outcome). */
    maxStalledCount: z.number().int().min(0).default(1),
    /** How often the reconciler looks for gap locks whose cycle has no live job and no outcome. */
    reconcileEveryMs: positiveInt.default(60_000),
    /** A lock must look orphaned for this long (two passes) before the reconciler ends its cycle. */
    orphanGraceMs: positiveInt.default(60_000),
    /** How long failure handling and recording wait for Redis before the reconciler is left to finish. */
    redisRetryMs: positiveInt.default(600_000),
    /** Health endpoints (/healthz, /readyz) on a port of their own; absent: no health server. */
    healthPort: z.number().int().min(1).max(65535).optional(),
    /** The kubelet probes the pod's address, so all interfaces by default (only state is shown). */
    healthHost: z.string().default('0.0.0.0'),
    /**
     * A queue with a job ready to run, free capacity in this worker and no job started for this
     * long is not consuming: its BullMQ Worker is recreated (queue-watch.ts).
     */
    stuckAfterMs: positiveInt.default(60_000),
    /** More recoveries than this within 10 minutes: the worker exits (1) for its supervisor to restart it. */
    maxRecoveries: positiveInt.default(3),
  })
  .prefault({});

export const dashboardSection = z
  .strictObject({
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(3000),
    /** Hides pause/resume and Bull Board's actions (its write endpoints answer 405). */
    readOnly: z.boolean().default(false),
    /** Set when the dashboard is served over HTTPS (cookies then carry `Secure`). */
    secureCookies: z.boolean().default(false),
  })
  .prefault({});

export const logSection = z
  .strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
  .prefault({});

/**
 * Forge webhooks on the dashboard server (POST /webhooks). The secret is read from the named
 * environment variable only; without it the route refuses every delivery (503).
 */
export const webhooksSection = z
  .strictObject({
    /** The environment variable holding the secret set on the forge's webhook (HMAC-SHA256 key). */
    secretEnv: envName.default('PRBOT_WEBHOOK_SECRET'),
    /** Larger bodies are refused (413) before their signature is checked. */
    maxBodyBytes: positiveInt.max(25 * 1024 * 1024).default(1024 * 1024),
    /** How long a delivery id is remembered, so a redelivery within it dispatches nothing. */
    deliveryTtlMs: positiveInt.default(7 * 24 * 3_600_000),
  })
  .prefault({});

/** Renovate-style dashboard issue: one per repository, updated in place at each produce and webhook. */
export const dashboardIssueSection = z
  .strictObject({
    /** Off by default: prbot then never creates or edits an issue. */
    enabled: z.boolean().default(false),
    /** The title prbot gives the issue; it is found again by its signed marker, never by title. */
    title: z.string().min(1).max(200).default('prbot dashboard'),
  })
  .prefault({});
