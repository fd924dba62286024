import { afterEach, describe, expect, it } from 'vitest';
import { clearSecrets, registerSecrets } from '@prbot/core';
import { lineLog } from './line-log.ts';

afterEach(() => clearSecrets());

// Test output goes to the job's Logs tab in Bull Board: it is scrubbed like every other job log line.
describe('lineLog', () => {
  it('a secret a test prints never reaches the job log', async () => {
    const secret = 'sk-line-log-secret-0123456789';
    registerSecrets([secret]);
    const entries: string[] = [];
    const log = lineLog({ log: async (l: string) => (entries.push(l), entries.length) }, 100);
    log.line(`token is ${secret}`);
    log.line('ok 1 - truncate');
    await log.flush();
    expect(entries.join('\n')).toContain('ok 1 - truncate');
    expect(entries.join('\n')).toContain('token is ');
    expect(entries.join('\n')).not.toContain(secret);
  });
});
