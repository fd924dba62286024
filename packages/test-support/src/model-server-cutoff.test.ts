import { expect, it } from 'vitest';
import { startModelServer } from './model-server.ts';

/** The server's log of cut-off requests is what the worker-kill row's bound counts: it must tell them apart. */
it('records a request whose client went away before the answer as cut off, and an answered one as not', async () => {
  const server = await startModelServer(() => ({ content: '{}', delayMs: 300 }));
  try {
    const body = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'x' }] });
    const answered = await fetch(`${server.baseUrl}/chat/completions`, { method: 'POST', body });
    expect(answered.status).toBe(200);
    await answered.text();
    const ac = new AbortController();
    const cut = fetch(`${server.baseUrl}/chat/completions`, { method: 'POST', body, signal: ac.signal }).catch(
      (e: Error) => e,
    );
    for (let i = 0; i < 200 && server.requests.length < 2; i++) await new Promise((r) => setTimeout(r, 5));
    ac.abort();
    expect(await cut).toBeInstanceOf(Error);
    for (let i = 0; i < 200 && !server.requests[1]?.cutOff; i++) await new Promise((r) => setTimeout(r, 5));
    expect(server.requests.map((q) => q.cutOff ?? false)).toEqual([false, true]);
  } finally {
    await server.close();
  }
});
