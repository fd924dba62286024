import type http from 'node:http';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { listenLoopback, withDefenceOff } from '@prbot/test-support';
import {
  boundedReadDefences,
  clearSecrets,
  inertTextDefence,
  redactionDefence,
  registerSecrets,
  parseProposal,
} from '@prbot/core';
import { chatCompletion, chatDefences, type ChatRequest } from './chat.ts';
import { ModelCallError } from './errors.ts';

// Hostile model providers, performed for real: each answer below is sent by a loopback HTTP
// server to the real chat client (undici), and the client must end with a named outcome, within
// its bounds, with nothing secret or terminal-active in what it says.

const KEY = 'sk-hostile-0123456789abcdef';
const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0)) await s();
  clearSecrets();
});

async function provider(handler: http.RequestListener): Promise<string> {
  const s = await listenLoopback(handler);
  stops.push(s.stop);
  return `${s.url}/v1`;
}

const req = (baseUrl: string, o: Partial<ChatRequest> = {}): ChatRequest => ({
  baseUrl,
  apiKey: KEY,
  model: 'm',
  messages: [{ role: 'user', content: 'hi' }],
  maxTokens: 100,
  temperature: 0,
  timeoutMs: 5000,
  maxAnswerBytes: 1024 * 1024,
  ...o,
});

async function failure(p: Promise<unknown>): Promise<ModelCallError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ModelCallError);
  return err as ModelCallError;
}

const completion = (content: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    id: 'x',
    object: 'chat.completion',
    model: 'm',
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    ...extra,
  });

// Nothing a terminal or a bidi-aware viewer would act on.
const ACTIVE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

describe('hostile model providers', () => {
  it('an answer that never ends is cut at maxAnswerBytes, and the connection dropped', async () => {
    let written = 0;
    let closed = false;
    const url = await provider((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const pump = () => {
        while (!closed && res.write(chunk)) written += chunk.length;
        if (!closed) res.once('drain', pump);
      };
      res.on('close', () => (closed = true));
      pump();
    });
    const err = await failure(chatCompletion(req(url)));
    expect(err.kind).toBe('bad_answer');
    expect(err.message).toMatch(/larger than 1048576 bytes/);
    await expect.poll(() => closed).toBe(true);
    // Socket buffers hold a few MB at most; a reader that drained would have taken far more.
    expect(written).toBeLessThan(64 * 1024 * 1024);
  });

  it('a Content-Length of 10 GB is refused before the body is read', async () => {
    let closed = false;
    const url = await provider((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(10 * 1024 ** 3) });
      res.write('{"choices":');
      res.on('close', () => (closed = true));
    });
    const err = await failure(chatCompletion(req(url)));
    expect(err.kind).toBe('bad_answer');
    expect(err.message).toMatch(/declares 10737418240 bytes/);
    await expect.poll(() => closed).toBe(true);
  });

  it('a drip of one byte every 20 ms hits the whole-call deadline, not only the idle timeout', async () => {
    let sent = 0;
    const url = await provider((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const t = setInterval(() => {
        sent++;
        res.write(' ');
      }, 20);
      res.on('close', () => clearInterval(t));
    });
    const err = await failure(chatCompletion(req(url, { timeoutMs: 600 })));
    expect(err.kind).toBe('timeout');
    // The server kept dripping until the client let go; no wall-clock assertion, only that the
    // drip (which resets an idle timer with every byte) did not keep the call alive for ever.
    expect(sent).toBeGreaterThan(0);
  });

  it('a gzip bomb (40 KB expanding to 40 MB) is refused unexpanded', async () => {
    const bomb = gzipSync(Buffer.concat([Buffer.from(completion('')), Buffer.alloc(40 * 1024 * 1024, 0x20)]));
    const seen: (string | undefined)[] = [];
    const url = await provider((r, res) => {
      seen.push(r.headers['accept-encoding']);
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }).end(bomb);
    });
    const err = await failure(chatCompletion(req(url)));
    expect(err.kind).toBe('bad_answer');
    expect(err.message).toMatch(/Content-Encoding gzip/);
    expect(err.message).not.toMatch(ACTIVE);
    expect(seen).toEqual(['identity']);
  });

  it.each([301, 302, 307, 308])(
    'a %i redirect to another host is not followed; the key never goes there',
    async (status) => {
      const elsewhere: (string | undefined)[] = [];
      const other = await provider((r, res) => {
        elsewhere.push(r.headers.authorization);
        res.writeHead(200, { 'content-type': 'application/json' }).end(completion('{}'));
      });
      const url = await provider((_r, res) => res.writeHead(status, { location: `${other}/chat/completions` }).end());
      const err = await failure(chatCompletion(req(url)));
      expect(err.kind).toBe('client');
      expect(err.message).toMatch(new RegExp(`HTTP ${status} redirect, not followed`));
      expect(elsewhere).toEqual([]);
    },
  );

  it('an error body that echoes the key, with ANSI, C1 and bidi controls, says neither', async () => {
    registerSecrets([KEY]);
    const url = await provider((r, res) => {
      const echoed = String(r.headers.authorization);
      res.writeHead(401, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          error: {
            message: `invalid key ${echoed} \u001b[2J\u001b]0;pwned\u0007 \u009b31m \u202egnp.exe\u202c \ud800 \u0000end`,
          },
        }),
      );
    });
    const err = await failure(chatCompletion(req(url)));
    expect(err.kind).toBe('client');
    expect(err.message).not.toContain(KEY);
    expect(err.message).not.toMatch(ACTIVE);
    expect(err.message).not.toMatch(/[\ud800-\udfff]/);
    expect(err.message).toContain('invalid key Bearer [redacted]');
    expect(err.message).toContain('end');
  });

  it('a body that is not JSON, full of escapes, is named without them', async () => {
    const url = await provider((_r, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end('\u001b[31mnope\u009b2J\u202e'),
    );
    const err = await failure(chatCompletion(req(url)));
    expect(err.kind).toBe('bad_answer');
    expect(err.message).toMatch(/not JSON: nope/);
    expect(err.message).not.toMatch(ACTIVE);
  });

  it('an event stream where one JSON answer was asked for is a named bad_answer', async () => {
    const url = await provider((_r, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(`data: ${completion('{}')}\n\ndata: [DONE]\n\n`);
    });
    const err = await failure(chatCompletion(req(url)));
    expect(err.kind).toBe('bad_answer');
    expect(err.message).toMatch(/event stream \(SSE\)/);
  });

  it.each([
    ['negative', { prompt_tokens: -1000, completion_tokens: 10, total_tokens: -990 }, null],
    ['fractional', { prompt_tokens: 1.5, completion_tokens: 10, total_tokens: 11.5 }, null],
    ['past 2^53', { prompt_tokens: 1e300, completion_tokens: 1, total_tokens: 1e300 }, null],
    ['strings', { prompt_tokens: '10', completion_tokens: '10', total_tokens: '20' }, null],
    ['a total of zero', { prompt_tokens: 5000, completion_tokens: 5000, total_tokens: 0 }, 10000],
    ['no total', { prompt_tokens: 7, completion_tokens: 3 }, 10],
  ])('usage that is %s is not what the budget is charged', async (_what, usage, total) => {
    const url = await provider((_r, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end(completion('{"ok":1}', { usage })),
    );
    const a = await chatCompletion(req(url));
    // The answer is kept; usage that cannot be right is dropped (the ladder then estimates it).
    expect(a.content).toBe('{"ok":1}');
    if (total === null) expect(a.usage).toBeNull();
    else expect(a.usage?.total_tokens).toBe(total);
  });

  it('__proto__ and constructor keys in the answer and the proposal pollute nothing', async () => {
    const proposal =
      '{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"summary":"s","files":[{"path":"a.txt","action":"create","content":"x","__proto__":{"polluted":"yes"}}]}';
    const url = await provider((_r, res) =>
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(`{"__proto__":{"polluted":"yes"},${completion(proposal).slice(1)}`),
    );
    const a = await chatCompletion(req(url));
    try {
      parseProposal(a.content, 1024 * 1024);
    } catch {
      /* whether the rest is a valid proposal does not matter here */
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('JSON nested 200,000 deep is a named outcome, not a stack overflow', async () => {
    const deep = '['.repeat(200_000) + ']'.repeat(200_000);
    const url = await provider((_r, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end(`{"x":${deep},${completion(deep).slice(1)}`),
    );
    const got = await chatCompletion(req(url)).then(
      (a) => a,
      (e: unknown) => e,
    );
    if (got instanceof Error) expect(got).toBeInstanceOf(ModelCallError);
    else {
      const err = (() => {
        try {
          parseProposal((got as { content: string }).content, 1024 * 1024);
          return null;
        } catch (e) {
          return e as Error;
        }
      })();
      expect(err?.name).toBe('ProposalParseError');
    }
  });
});

// Positive controls: each defence above switched off alone (its test-only switch, back on in a
// `finally`), the same hostile answer from the same kind of loopback server, and the harm it
// prevents asserted. With the switch left on, each of these fails.
describe('positive controls: one defence off, the same hostile provider gets through', () => {
  it('positive control: with the byte cap off, a 10 MB answer is read whole and accepted', async () => {
    let written = 0;
    const url = await provider((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      // A valid answer followed by 10 MB of JSON whitespace: it ends, so the control ends too.
      const head = Buffer.from(completion('{"ok":1}'));
      const pad = Buffer.alloc(10 * 1024 * 1024, 0x20);
      written = head.length + pad.length;
      res.end(Buffer.concat([head, pad]));
    });
    // With the cap: refused at 1 MiB.
    expect((await failure(chatCompletion(req(url)))).message).toMatch(/larger than 1048576 bytes/);
    const a = await withDefenceOff(boundedReadDefences, 'cap', () => chatCompletion(req(url)));
    expect(a.content).toBe('{"ok":1}');
    expect(written).toBeGreaterThan(10 * 1024 * 1024);
  });

  it('positive control: with the declared-size refusal off, a Content-Length of 10 GB is read until the cap', async () => {
    const url = await provider((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(10 * 1024 ** 3) });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      let closed = false;
      res.on('close', () => (closed = true));
      const pump = () => {
        while (!closed && res.write(chunk));
        if (!closed) res.once('drain', pump);
      };
      pump();
    });
    expect((await failure(chatCompletion(req(url)))).message).toMatch(/declares 10737418240 bytes/);
    // Off, the body is read: 1 MiB of it, until the byte cap (the other layer) stops it.
    const err = await withDefenceOff(boundedReadDefences, 'declaredSize', () => failure(chatCompletion(req(url))));
    expect(err.kind).toBe('bad_answer');
    expect(err.message).toMatch(/larger than 1048576 bytes/);
    expect(err.message).not.toMatch(/declares/);
  });

  it('positive control: with the whole-call deadline off, a drip keeps the call alive past it (undici idle timer reset by every byte)', async () => {
    const timeoutMs = 300;
    let afterDeadline = 0;
    const url = await provider((_req, res) => {
      const t0 = Date.now();
      res.writeHead(200, { 'content-type': 'application/json' });
      // 60 bytes, one every 20 ms, then a valid answer: bounded, so the control ends.
      let n = 0;
      const t = setInterval(() => {
        if (Date.now() - t0 > timeoutMs) afterDeadline++;
        if (++n < 60) res.write(' ');
        else {
          clearInterval(t);
          res.end(completion('{"late":1}'));
        }
      }, 20);
      res.on('close', () => clearInterval(t));
    });
    expect((await failure(chatCompletion(req(url, { timeoutMs })))).kind).toBe('timeout');
    afterDeadline = 0;
    const a = await withDefenceOff(boundedReadDefences, 'deadline', () => chatCompletion(req(url, { timeoutMs })));
    expect(a.content).toBe('{"late":1}');
    // Counted by the server: bytes it sent, and the client took, after the call's deadline.
    expect(afterDeadline).toBeGreaterThan(0);
  });

  it('positive control: with the encoding refusal off, the compressed bomb is handed to the JSON parser as text', async () => {
    const bomb = gzipSync(Buffer.concat([Buffer.from(completion('')), Buffer.alloc(40 * 1024 * 1024, 0x20)]));
    const url = await provider((_r, res) =>
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }).end(bomb),
    );
    const err = await withDefenceOff(boundedReadDefences, 'encoding', () => failure(chatCompletion(req(url))));
    // undici's request does not decompress: the bomb stays small, but its bytes are parsed as the answer.
    expect(err.kind).toBe('bad_answer');
    expect(err.message).toMatch(/body is not JSON/);
    expect(err.message).not.toMatch(/Content-Encoding/);
  });

  it('positive control: with redirects followed (undici redirect interceptor), the other server receives the request and its answer is used', async () => {
    const elsewhere: (string | undefined)[] = [];
    const other = await provider((r, res) => {
      elsewhere.push(r.url);
      res.writeHead(200, { 'content-type': 'application/json' }).end(completion('{"from":"elsewhere"}'));
    });
    const url = await provider((_r, res) => res.writeHead(307, { location: `${other}/chat/completions` }).end());
    const a = await withDefenceOff(chatDefences, 'noRedirects', () => chatCompletion(req(url)));
    expect(elsewhere).toEqual(['/v1/chat/completions']);
    expect(a.content).toBe('{"from":"elsewhere"}');
  });

  const echoing = () =>
    provider((r, res) => {
      res.writeHead(401, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          error: {
            message: `invalid key ${String(r.headers.authorization)} \u001b[2J\u001b]0;pwned\u0007 \u202egnp.exe`,
          },
        }),
      );
    });

  it('positive control: with redaction off, the key the provider echoes stands in the error', async () => {
    registerSecrets([KEY]);
    const url = await echoing();
    const err = await withDefenceOff(redactionDefence, 'on', () => failure(chatCompletion(req(url))));
    expect(err.message).toContain(`Bearer ${KEY}`);
    expect(err.message).not.toMatch(ACTIVE);
  });

  it('positive control: with inertText off, the escapes and bidi override stand in the error', async () => {
    registerSecrets([KEY]);
    const url = await echoing();
    const err = await withDefenceOff(inertTextDefence, 'strip', () => failure(chatCompletion(req(url))));
    expect(err.message).toMatch(ACTIVE);
    expect(err.message).toContain('\u001b]0;pwned\u0007');
    expect(err.message).not.toContain(KEY);
  });

  it('positive control: with the SSE check off, the event stream is not named: "not JSON: data: …"', async () => {
    const url = await provider((_r, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(`data: ${completion('{}')}\n\ndata: [DONE]\n\n`);
    });
    const err = await withDefenceOff(chatDefences, 'sse', () => failure(chatCompletion(req(url))));
    expect(err.message).not.toMatch(/event stream/);
    expect(err.message).toMatch(/body is not JSON: data: /);
  });

  it('positive control: with usage sanitising off, a negative or zero total is what the budget is charged', async () => {
    for (const [usage, charged] of [
      [{ prompt_tokens: -1000, completion_tokens: 10, total_tokens: -990 }, -990],
      [{ prompt_tokens: 5000, completion_tokens: 5000, total_tokens: 0 }, 0],
    ] as const) {
      const url = await provider((_r, res) =>
        res.writeHead(200, { 'content-type': 'application/json' }).end(completion('{"ok":1}', { usage })),
      );
      const a = await withDefenceOff(chatDefences, 'usage', () => chatCompletion(req(url)));
      expect(a.usage?.total_tokens).toBe(charged);
    }
  });

  // No switch: JSON.parse defines "__proto__" as an own data property (ECMA-262 JSON.parse uses
  // CreateDataProperty) and zod builds new objects from known keys; V8's JSON.parse is not
  // recursive. What these show is that the payloads are live: code that merged or walked the
  // answer the ordinary way would be polluted or overflow the stack.
  it('structural control: the __proto__ payload pollutes Object.prototype through a naive deep merge', () => {
    const payload = JSON.parse('{"__proto__":{"polluted":"yes"}}') as Record<string, unknown>;
    const merge = (into: Record<string, unknown>, from: Record<string, unknown>): void => {
      for (const k of Object.keys(from)) {
        const v = from[k];
        if (v && typeof v === 'object')
          merge((into[k] ??= {}) as Record<string, unknown>, v as Record<string, unknown>);
        else into[k] = v;
      }
    };
    try {
      merge({}, payload);
      expect(({} as Record<string, unknown>).polluted).toBe('yes');
    } finally {
      delete (Object.prototype as Record<string, unknown>).polluted;
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('structural control: the 200,000-deep answer overflows the stack of a recursive walk', () => {
    const deep = JSON.parse('['.repeat(200_000) + ']'.repeat(200_000)) as unknown;
    const depth = (v: unknown): number => (Array.isArray(v) && v.length ? 1 + depth(v[0]) : Array.isArray(v) ? 1 : 0);
    expect(() => depth(deep)).toThrow(RangeError);
  });
});
