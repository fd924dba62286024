/**
 * The one way prbot reads an HTTP answer from a host it does not control (a model provider, a
 * forge, the observer): at most `maxBytes` of the bytes it is handed, and nothing after
 * `signal` fires. undici's `bodyTimeout` is an idle timeout: a provider that drips one byte a
 * second never trips it, so the deadline is the whole call's, not the gap between chunks.
 *
 * Callers of undici's `request` get the bytes as sent (it does not decompress) and ask for
 * `accept-encoding: identity`; an answer sent compressed anyway is refused by `refuseEncoding`,
 * so a 10 KB gzip bomb is never expanded. Callers of `fetch` (Octokit) get decompressed bytes and
 * the cap applies to those, so the bomb is stopped at `maxBytes` of output.
 */

/**
 * The four rules of this module, switchable for one purpose: the positive controls in
 * packages/model/src/hostile-provider.test.ts, packages/forge/src/hostile-forge.test.ts and
 * packages/pipeline/src/observer.test.ts turn one off in their own process (and back in a
 * `finally`) to show the same hostile answer then gets through. No variable, config field or
 * answer reaches this object.
 */
export const boundedReadDefences = { cap: true, declaredSize: true, deadline: true, encoding: true };

/**
 * The whole-call deadline every caller passes to its request and to readBounded; undefined only
 * with `boundedReadDefences.deadline` off (a positive control), when only undici's idle timers remain.
 */
export function wholeCallDeadline(ms: number): AbortSignal | undefined {
  return boundedReadDefences.deadline ? AbortSignal.timeout(ms) : undefined;
}

/** The answer was bigger than the cap, said so in Content-Length, or came in an encoding not asked for. */
export class AnswerRefused extends Error {
  override readonly name = 'AnswerRefused';
  constructor(
    readonly why: 'too_large' | 'encoding',
    message: string,
  ) {
    super(message);
  }
}

/** The whole-call deadline fired while the body was still arriving. */
export class AnswerDeadline extends Error {
  override readonly name = 'TimeoutError';
}

type Headers = Record<string, string | string[] | undefined>;

const one = (h: string | string[] | undefined): string | undefined => (Array.isArray(h) ? h[0] : h);

/** Refuses a declared Content-Length over the cap before a byte of the body is read. */
export function refuseDeclaredSize(headers: Headers, maxBytes: number): void {
  if (!boundedReadDefences.declaredSize) return;
  const declared = Number(one(headers['content-length']));
  if (Number.isFinite(declared) && declared > maxBytes)
    throw new AnswerRefused('too_large', `answer declares ${declared} bytes, over the cap of ${maxBytes}`);
}

/** Refuses a body in any Content-Encoding but identity (undici's `request` would hand over the compressed bytes). */
export function refuseEncoding(headers: Headers): void {
  if (!boundedReadDefences.encoding) return;
  const enc = (one(headers['content-encoding']) ?? '').trim().toLowerCase();
  if (enc && enc !== 'identity')
    throw new AnswerRefused(
      'encoding',
      `answer is sent with Content-Encoding ${enc.slice(0, 40)}, which was not asked for`,
    );
}

type Body = AsyncIterable<Uint8Array> & {
  destroy?(err?: Error): unknown;
  on?(event: 'error', fn: () => void): unknown;
};

/** Drops an answer's body unread (the connection goes with it); the stream's own abort error is expected, not thrown. */
export function discardBody(body: Body): void {
  body.on?.('error', () => {});
  body.destroy?.();
}

/**
 * Reads `body` to the end as UTF-8 (invalid sequences become U+FFFD), throwing AnswerRefused past
 * `maxBytes` and AnswerDeadline when `signal` fires; either way the stream is destroyed, so the
 * connection is dropped instead of being drained.
 */
export async function readBounded(body: Body, maxBytes: number, signal?: AbortSignal): Promise<string> {
  // Errors are taken from the iterator; the stream's own 'error' event after a destroy is not a crash.
  body.on?.('error', () => {});
  const chunks: Uint8Array[] = [];
  let n = 0;
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    if (!signal) return;
    onAbort = () => {
      const err = new AnswerDeadline('the answer did not arrive before the deadline');
      body.destroy?.(err);
      reject(err);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => {});
  const it = body[Symbol.asyncIterator]();
  try {
    for (;;) {
      const r = await Promise.race([it.next(), aborted]);
      if (r.done) break;
      n += r.value.length;
      if (n > maxBytes && boundedReadDefences.cap) {
        const err = new AnswerRefused('too_large', `answer is larger than ${maxBytes} bytes`);
        body.destroy?.(err);
        throw err;
      }
      chunks.push(r.value);
    }
  } catch (err) {
    // An abort can surface from the stream itself (undici destroys it on the request's signal).
    if (signal?.aborted && !(err instanceof AnswerRefused))
      throw new AnswerDeadline('the answer did not arrive before the deadline');
    throw err;
  } finally {
    if (onAbort) signal?.removeEventListener('abort', onAbort);
    void it.return?.().catch(() => {});
  }
  return Buffer.concat(chunks).toString('utf8');
}
