import { CronExpressionParser } from 'cron-parser';
import { execa } from 'execa';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseCron, parseEvery, parseSchedule } from './schedule.ts';

/** The real shortest gap between consecutive runs over a window, to check the field reasoning against. */
function shortestGapMs(expr: string, runs = 2000): number {
  const it = CronExpressionParser.parse(expr, { tz: 'UTC', currentDate: new Date('2026-01-01T00:00:00Z') });
  let prev = it.next().getTime();
  let min = Infinity;
  for (let i = 0; i < runs; i++) {
    const t = it.next().getTime();
    min = Math.min(min, t - prev);
    prev = t;
  }
  return min;
}

describe('schedules', () => {
  it.each(['* * * * * *', '*/30 * * * * *', '0,1 * * * * *', '0-59 0 * * * *', '*/5 * * * * *'])(
    'refuses %j: under the 1-minute minimum',
    (expr) => {
      expect(shortestGapMs(expr)).toBeLessThan(60_000);
      expect(() => parseCron(expr)).toThrow(/runs more often than once a minute.*shortest schedule is 1m/);
    },
  );

  it.each(['* * * * *', '0 * * * *', '*/15 * * * *', '30 * * * * *', '0 0 * * 1-5', '0 0 9 * * *', '15 */2 * * * *'])(
    'accepts %j: at least a minute apart',
    (expr) => {
      expect(shortestGapMs(expr, 500)).toBeGreaterThanOrEqual(60_000);
      expect(parseCron(expr)).toEqual({ pattern: expr, tz: 'UTC' });
    },
  );

  it.each([
    ['not a cron', /is not a cron expression/],
    ['61 * * * *', /is not a cron expression/],
    ['* * * *', /is not a cron expression/],
    ['0 0 30 2 *', /never runs|not a cron/],
  ])('names a bad expression %j in one line', (expr, why) => {
    let msg = '';
    try {
      parseCron(expr);
    } catch (err) {
      msg = (err as Error).message;
    }
    expect(msg).toMatch(why);
    expect(msg).toContain(JSON.stringify(expr));
    expect(msg.split('\n')).toHaveLength(1);
  });

  it('keeps --every as it was', () => {
    expect(parseEvery('1m')).toBe(60_000);
    expect(() => parseEvery('30s')).toThrow(/at least 1m/);
    expect(() => parseSchedule({ every: '1h', cron: '* * * * *' })).toThrow(/not both/);
  });

  it('the CLI refuses a sub-minute or malformed cron with one line and exit 2, before touching config or Redis', async () => {
    const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), 'cli.ts');
    for (const expr of ['* * * * * *', 'every minute please']) {
      const r = await execa(
        process.execPath,
        ['--import', 'tsx', cli, 'produce', '--cron', expr, '--config', '/nonexistent/prbot.config.json'],
        { reject: false, env: { PATH: process.env.PATH! }, extendEnv: false },
      );
      expect(r.exitCode).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(`--cron ${JSON.stringify(expr)}`);
      expect(r.stderr).not.toMatch(/\s+at\s/);
    }
  });
});
