import { discardBody, readBounded, redactDeep, wholeCallDeadline } from '@prbot/core';
import type { CycleRecord } from '@prbot/core';

/** POSTs one cycle record to the observer service. Throws on failure so BullMQ retries it. */
export async function postEvent(url: string, record: CycleRecord, timeoutMs: number): Promise<void> {
  // undici is loaded at the first delivery, not at start (only configs with an observer use it).
  const { request } = await import('undici');
  const deadline = wholeCallDeadline(timeoutMs);
  const res = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'accept-encoding': 'identity' },
    body: JSON.stringify(redactDeep({ source: 'bot', ...record })),
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    signal: deadline,
  });
  // Only the status matters; the body is read (bounded) so the connection can be reused.
  await readBounded(res.body, 64 * 1024, deadline).catch(() => discardBody(res.body));
  if (res.statusCode >= 300) throw new Error(`observer answered HTTP ${res.statusCode}`);
}
