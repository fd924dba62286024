import { UnrecoverableError } from 'bullmq';
import type { ContextShown } from './context-shown.ts';
import type { ModelInfo } from './model-info.ts';
import type { Outcome } from './outcomes.ts';
import type { CommandResult, LimitHit } from './test-result.ts';

/** What a step that ends a cycle knows beyond the job's payload; it goes into the record. */
export interface CycleDetails {
  tests?: CommandResult[];
  model?: ModelInfo;
  /** What the prompt showed of the repository (propose). */
  context?: ContextShown[];
  branch?: string;
  pr_url?: string;
  warnings?: string[];
  /** The limit a test run hit (record `limit`). */
  limit?: LimitHit;
  /** Names from the gap and whether their definitions were found (record `context_names`). */
  contextNames?: { found: string[]; missing: string[] };
}

/** Raised by a stage step to end the cycle for good with a named outcome. Never retried. */
export class CycleEnded extends Error {
  override readonly name = 'CycleEnded';
  constructor(
    readonly outcome: Outcome,
    readonly reason: string,
    readonly details: CycleDetails = {},
  ) {
    super(`${outcome}: ${reason}`);
  }
}

/** A failure worth retrying (network, 5xx, a busy git lock). BullMQ's backoff applies. */
export class TransientError extends Error {
  override readonly name = 'TransientError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * This machine failed, not the change under test (ENOSPC, a missing program, a sandbox that
 * cannot be created, a failed chown). Retried with backoff like a TransientError; when the
 * retries run out the cycle ends `infra_failed`, which never counts against the gap.
 */
export class InfraError extends Error {
  override readonly name = 'InfraError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * Whether a failure was this machine's, not the change's: the error itself, or, for a job BullMQ
 * failed outside the processor, the stack it stored (whose first line starts with the class name).
 */
export function isInfraFailure(failure: unknown): boolean {
  if (Array.isArray(failure)) return failure.some((line) => typeof line === 'string' && line.startsWith('InfraError:'));
  return failure instanceof InfraError || (failure instanceof Error && failure.name === 'InfraError');
}

/** A config file that does not validate. The message names the file and each bad field. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly file: string,
    readonly issues: { field: string; message: string }[],
  ) {
    super(`invalid config ${file}:\n` + issues.map((i) => `  - ${i.field || '(root)'}: ${i.message}`).join('\n'));
  }
}

/** A command line that asks for something that does not exist (an unknown queue, a bad flag). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A git command that failed; carries the subcommand and stderr, never the environment. */
export class GitError extends Error {
  override readonly name = 'GitError';
  constructor(
    readonly args: readonly string[],
    readonly stderr: string,
    readonly exitCode: number | undefined,
  ) {
    super(`git ${args.slice(0, 2).join(' ')} failed (exit ${exitCode ?? '?'}): ${stderr.trim().slice(0, 500)}`);
  }
}

/** A service prbot needs (Redis) cannot be reached; the message names it, without credentials. */
export class UnavailableError extends Error {
  override readonly name: string = 'UnavailableError';
}

/** A service asked us to slow down: the stage's whole queue waits `waitMs` (BullMQ manual rate limit). */
export class RateLimited extends Error {
  override readonly name: string = 'RateLimited';
  constructor(
    what: string,
    readonly waitMs: number,
  ) {
    super(`${what}; the queue waits ${Math.round(waitMs / 1000)} s`);
  }
}

/**
 * A failure no retry can mend (job data failing its schema, push auth refused, a forge that
 * refuses the token): BullMQ skips the remaining attempts (`UnrecoverableError`), and the stage
 * runner records `outcome` (default: the stage's "gave up" outcome) once.
 */
export class PermanentError extends UnrecoverableError {
  constructor(
    message: string,
    readonly outcome?: Outcome,
    options?: { cause?: unknown },
  ) {
    super(message);
    if (options?.cause !== undefined) (this as { cause?: unknown }).cause = options.cause;
  }
}

/** Wraps an error (or a message) as permanent: `throw permanent(err, 'pr_failed')`. */
function permanent(err: unknown, outcome?: Outcome): PermanentError {
  if (err instanceof PermanentError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new PermanentError(message, outcome, { cause: err });
}

/**
 * Redis said no for now: out of memory under `noeviction`, loading its AOF after a restart, a
 * failover, or the connection dropped. Never the fault of the cycle; always worth waiting out.
 */
export function isRedisTransient(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const m = err.message;
  if (/^(OOM|LOADING|BUSY|READONLY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|NOREPLICAS|MISCONF)\b/.test(m)) return true;
  // A failover: redirections that did not settle, slots or sentinels not answering yet.
  if (
    /^(MOVED|ASK)\b|Too many Cluster redirections|Failed to refresh slots cache|All sentinels are unreachable|None of the sentinels are available|Command aborted due to connection close/.test(
      m,
    )
  )
    return true;
  if (
    /command not allowed when used memory|Connection is closed|Reached the max retries per request|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|Stream isn't writeable|connect ETIMEDOUT|Socket closed unexpectedly/i.test(
      m,
    )
  )
    return true;
  return err.name === 'MaxRetriesPerRequestError';
}
