import { afterEach, describe, expect, it } from 'vitest';
import { listenLoopback } from '@prbot/test-support';
import { postEvent } from './observer.ts';
import type { CycleRecord } from '@prbot/core';

// A hostile observer service, for real over loopback: its answer's body must not hold a worker
// of the events queue for ever (a drip resets undici's idle timer with every byte).
const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0)) await s();
});

const record = {
  cycle_id: 'c1',
  outcome: 'ok',
  reason: 'r',
  stage: 'pr',
  started_at: 'x',
  ended_at: 'y',
  dry_run: false,
} as unknown as CycleRecord;

describe('observer delivery against a hostile answer', () => {
  it('a 200 whose body drips one byte every 20 ms for ever ends at the deadline', async () => {
    let dripping = 0;
    const s = await listenLoopback((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' });
      const t = setInterval(() => {
        dripping++;
        res.write(' ');
      }, 20);
      res.on('close', () => clearInterval(t));
    });
    stops.push(s.stop);
    // Delivered (the status said so); the body is dropped once the call's deadline passes.
    await expect(postEvent(s.url, record, 500)).resolves.toBeUndefined();
    expect(dripping).toBeGreaterThan(0);
  });

  it('a 500 with an endless body is a failure (BullMQ retries it), not a hang', async () => {
    const s = await listenLoopback((req, res) => {
      req.resume();
      res.writeHead(500, { 'content-type': 'text/plain' });
      const chunk = Buffer.alloc(16 * 1024, 0x41);
      const t = setInterval(() => res.write(chunk), 5);
      res.on('close', () => clearInterval(t));
    });
    stops.push(s.stop);
    await expect(postEvent(s.url, record, 2000)).rejects.toThrow(/observer answered HTTP 500/);
  });
});
