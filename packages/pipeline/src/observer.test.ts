import { afterEach, describe, expect, it } from 'vitest';
import { listenLoopback, withDefenceOff } from '@prbot/test-support';
import { postEvent } from './observer.ts';
import { boundedReadDefences, type CycleRecord } from '@prbot/core';

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

  it('positive control: with the whole-call deadline off, a dripped 200 holds the delivery past its deadline', async () => {
    const timeoutMs = 300;
    let afterDeadline = 0;
    const s = await listenLoopback((req, res) => {
      req.resume();
      const t0 = Date.now();
      res.writeHead(200, { 'content-type': 'application/json' });
      // Bounded by the server (60 bytes, one every 20 ms), so the control ends; off, the
      // delivery ends only when the server does, whatever the deadline.
      let n = 0;
      const t = setInterval(() => {
        if (Date.now() - t0 > timeoutMs) afterDeadline++;
        if (++n < 60) res.write(' ');
        else {
          clearInterval(t);
          res.end();
        }
      }, 20);
      res.on('close', () => clearInterval(t));
    });
    stops.push(s.stop);
    await withDefenceOff(boundedReadDefences, 'deadline', () => postEvent(s.url, record, timeoutMs));
    // Counted by the server: bytes it sent, and the delivery waited for, after the deadline.
    expect(afterDeadline).toBeGreaterThan(0);
    // With the deadline, the same server's drip is cut at it: the server's count then stops early.
    afterDeadline = 0;
    let closedAt = -1;
    const on = await listenLoopback((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' });
      let n = 0;
      const t = setInterval(() => {
        if (++n < 60) res.write(' ');
        else {
          clearInterval(t);
          res.end();
        }
      }, 20);
      res.on('close', () => {
        clearInterval(t);
        closedAt = n;
      });
    });
    stops.push(on.stop);
    await postEvent(on.url, record, timeoutMs);
    await expect.poll(() => closedAt).toBeGreaterThanOrEqual(0);
    expect(closedAt).toBeLessThan(60);
  });
});
