import type { Job } from 'bullmq';
import { redactText } from '@prbot/core';

const BATCH_LINES = 50;
const BATCH_MS = 250;

/**
 * A command's output for the job's Logs tab: lines are gathered into one log entry per 50 lines
 * or 250 ms, so a chatty test costs a Redis round trip per batch, not per line. Entries keep
 * their order; at most `max` lines are kept per command. Scrubbed of secrets as every job log line is.
 */
export function lineLog(job: Pick<Job, 'log'>, max: number) {
  let buffer: string[] = [];
  let seen = 0;
  let timer: NodeJS.Timeout | undefined;
  let written: Promise<void> = Promise.resolve();
  const flush = (): Promise<void> => {
    clearTimeout(timer);
    timer = undefined;
    if (buffer.length > 0) {
      const entry = buffer.join('\n');
      buffer = [];
      // A lost log entry must not fail the test run.
      written = written
        .then(() => job.log(redactText(entry)))
        .then(
          () => undefined,
          () => undefined,
        );
    }
    return written;
  };
  return {
    line(l: string): void {
      if (seen++ >= max) return;
      buffer.push(l);
      if (buffer.length >= BATCH_LINES) void flush();
      else timer ??= setTimeout(() => void flush(), BATCH_MS);
    },
    flush,
  };
}
