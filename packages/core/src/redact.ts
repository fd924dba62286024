/** What a known secret value is replaced with wherever text is stored or logged. */
const REDACTED = '[redacted]';

/** Shorter values are not registered: scrubbing a 3-character "secret" would shred every text. */
const MIN_SECRET_LENGTH = 6;

// Every value this process knows to be secret, in each spelling it may show up in.
const known = new Set<string>();
let pattern: RegExp | null = null;

/**
 * Adds values to scrub from everything stored or logged. Each value is also scrubbed as it
 * appears JSON-escaped, URL-encoded and base64-encoded (git's `x-access-token:<token>` header).
 */
export function registerSecrets(values: Iterable<string | null | undefined>): void {
  let added = false;
  for (const v of values) {
    if (!v || v.length < MIN_SECRET_LENGTH) continue;
    for (const form of spellings(v)) {
      if (!known.has(form)) {
        known.add(form);
        added = true;
      }
    }
  }
  if (added) {
    // Longest first, so a value that contains another is replaced whole.
    const alternatives = [...known]
      .sort((a, b) => b.length - a.length)
      .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    pattern = new RegExp(alternatives.join('|'), 'g');
  }
}

function spellings(v: string): string[] {
  return [
    v,
    JSON.stringify(v).slice(1, -1),
    encodeURIComponent(v),
    Buffer.from(v).toString('base64'),
    Buffer.from(`x-access-token:${v}`).toString('base64'),
  ].filter((s) => s.length >= MIN_SECRET_LENGTH);
}

/** Forgets every registered value (tests only). */
export function clearSecrets(): void {
  known.clear();
  pattern = null;
}

/**
 * Switchable for one purpose: the positive controls of packages/model/src/hostile-provider.test.ts
 * and packages/forge/src/hostile-forge.test.ts turn it off in their own process (back in a
 * `finally`) to show an echoed key then stands in the error. No variable or config field reaches it.
 */
export const redactionDefence = { on: true };

/** `s` with every known secret value replaced by `[redacted]`. */
export function redactText(s: string): string {
  if (!pattern || s.length === 0 || !redactionDefence.on) return s;
  pattern.lastIndex = 0;
  return s.replace(pattern, REDACTED);
}

/** A copy of `v` with every string in it (keys included) scrubbed; other values kept as they are. */
export function redactDeep<T>(v: T): T {
  if (!pattern) return v;
  return scrub(v, 0) as T;
}

function scrub(v: unknown, depth: number): unknown {
  if (typeof v === 'string') return redactText(v);
  if (v === null || typeof v !== 'object' || depth > 64) return v;
  if (Array.isArray(v)) return v.map((x) => scrub(x, depth + 1));
  if (v instanceof Error) {
    const e = new Error(redactText(v.message));
    e.name = v.name;
    e.stack = v.stack === undefined ? undefined : redactText(v.stack);
    return e;
  }
  if (Object.getPrototypeOf(v) !== Object.prototype && Object.getPrototypeOf(v) !== null) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[redactText(k)] = scrub(x, depth + 1);
  return out;
}

/** Scrubs an error's message and stack in place (so BullMQ's failedReason and stacktrace are clean). */
export function redactError<E>(err: E): E {
  if (pattern && err instanceof Error) {
    try {
      err.message = redactText(err.message);
      if (err.stack) err.stack = redactText(err.stack);
    } catch {
      /* a frozen error: leave it */
    }
  }
  return err;
}
