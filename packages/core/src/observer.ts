import { redactDeep } from './redact.ts';
import type { CycleRecord } from './records.ts';

/** POSTs one cycle record to the observer service. Throws on failure so BullMQ retries it. */
export async function postEvent(url: string, record: CycleRecord, timeoutMs: number): Promise<void> {
  // undici is loaded at the first delivery, not at start (only configs with an observer use it).
  const { request } = await import('undici');
  const res = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(redactDeep({ source: 'bot', ...record })),
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  await res.body.text();
  if (res.statusCode >= 300) throw new Error(`observer answered HTTP ${res.statusCode}`);
}
