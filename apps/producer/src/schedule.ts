import { CronExpressionParser } from 'cron-parser';
import { parseDuration } from '@prbot/pipeline';
import { UsageError } from '@prbot/core';

/** The shortest schedule produce accepts: every run lists the forge and reads the PRD. */
const MIN_INTERVAL_MS = 60_000;

export type Repeat = { every: number } | { pattern: string; tz: 'UTC' };

/** "90s", "15m", "1h", "1d" → ms. */
export function parseEvery(s: string): number {
  const ms = parseDuration(s);
  if (ms === undefined) throw new UsageError(`--every takes a duration such as 30m, 1h or 1d, not "${s}"`);
  if (ms < MIN_INTERVAL_MS) throw new UsageError(`--every must be at least 1m, not "${s}"`);
  return ms;
}

/**
 * Checks a cron expression with the parser BullMQ itself runs it with (cron-parser, the version
 * BullMQ pins), so what is checked is what will run. Five fields (minute first) or six (second
 * first). The shortest interval between two runs is under a minute exactly when the seconds field
 * allows more than one value: with one second value, two runs fall in different minutes.
 */
export function parseCron(expr: string): { pattern: string; tz: 'UTC' } {
  const shown = JSON.stringify(expr);
  const fields = expr.trim().split(/\s+/).length;
  // cron-parser fills in missing fields; a 3- or 4-field line is a typo, not a schedule.
  if (!expr.trim().startsWith('@') && fields !== 5 && fields !== 6) {
    throw new UsageError(
      `--cron ${shown} is not a cron expression: it has ${fields} fields; give 5 (minute hour day month weekday) or 6 (second first)`,
    );
  }
  let interval;
  try {
    interval = CronExpressionParser.parse(expr, { tz: 'UTC', strict: false });
  } catch (err) {
    throw new UsageError(`--cron ${shown} is not a cron expression: ${firstLine((err as Error).message)}`);
  }
  const seconds = interval.fields.second.values;
  if (seconds.length > 1) {
    throw new UsageError(
      `--cron ${shown} runs more often than once a minute (${seconds.length} times in some minutes); the shortest schedule is 1m`,
    );
  }
  try {
    interval.next();
  } catch {
    throw new UsageError(`--cron ${shown} never runs`);
  }
  return { pattern: expr, tz: 'UTC' };
}

/** The one place --every and --cron become a BullMQ repeat option. */
export function parseSchedule(o: { every?: string; cron?: string }): Repeat {
  if (o.every !== undefined && o.cron !== undefined) throw new UsageError('give --every or --cron, not both');
  if (o.every !== undefined) return { every: parseEvery(o.every) };
  if (o.cron !== undefined) return parseCron(o.cron);
  throw new UsageError('give --every or --cron');
}

function firstLine(s: string): string {
  return s.split('\n')[0]!.slice(0, 200);
}
