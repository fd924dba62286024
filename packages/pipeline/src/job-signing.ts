import { createHmac, timingSafeEqual } from 'node:crypto';
import { createRequire } from 'node:module';
import { UsageError } from '@prbot/core';

// canonicalize (RFC 8785) is CommonJS whose types declare an ES default export: load it as CJS.
const canonicalize = createRequire(import.meta.url)('canonicalize') as (input: unknown) => string | undefined;

/** The job-data field that carries the hand-over's signature. */
const SIG_FIELD = '_sig';

/**
 * Job data is written by a worker and read by the next stage through Redis, which test code
 * (or anyone who reaches Redis) could write to: a forged `pr` job once pushed a commit adding a
 * workflow file. Every hand-over therefore carries an HMAC-SHA256 over the payload's canonical
 * JSON (RFC 8785, so key order and number spelling cannot change the bytes), keyed by a secret
 * only workers and the producer hold in their environment. The queue name is part of the MAC,
 * so a signed `test` payload cannot be replayed as a `pr` job.
 */
export function signJob<T extends object>(queue: string, data: T, key: Buffer): T & { [SIG_FIELD]: string } {
  return { ...data, [SIG_FIELD]: mac(queue, withoutSig(data), key) };
}

/**
 * Verification, switchable for one purpose: the positive control in test/sandbox/jobs.test.ts
 * turns it off in its own process to show that a forged job is then run. No variable or config
 * field reaches it; production never changes it.
 */
export const jobSignatureDefence = { verify: true };

/** Why a job's data fails verification, or null when it is signed by a holder of `key`. */
export function jobSignatureRefusal(queue: string, data: unknown, key: Buffer): string | null {
  if (!jobSignatureDefence.verify) return null;
  if (typeof data !== 'object' || data === null) return 'job signature invalid: the job data is not an object';
  const sig = (data as Record<string, unknown>)[SIG_FIELD];
  if (typeof sig !== 'string' || !/^[0-9a-f]{64}$/.test(sig))
    return 'job signature invalid: the job is unsigned (not enqueued by a prbot worker or producer)';
  const want = Buffer.from(mac(queue, withoutSig(data), key), 'hex');
  const got = Buffer.from(sig, 'hex');
  if (!timingSafeEqual(want, got))
    return 'job signature invalid: the job data was altered after it was signed, or signed with another key';
  return null;
}

/** Strips the signature, e.g. before a stage passes the payload on. */
export function withoutSig<T extends object>(data: T): T {
  const { [SIG_FIELD]: _drop, ...rest } = data as Record<string, unknown>;
  return rest as T;
}

function mac(queue: string, data: object, key: Buffer): string {
  // BullMQ stores data as JSON: sign what the reader will see, not fields JSON would drop.
  const text = canonicalize(JSON.parse(JSON.stringify(data)));
  return createHmac('sha256', key)
    .update(`prbot-job-v1\0${queue}\0${text ?? ''}`)
    .digest('hex');
}

/** The smallest key we accept: 32 bytes of entropy written as hex or base64 is ≥ 43 characters. */
const MIN_JOB_KEY_CHARS = 32;

/**
 * The signing key from the environment variable the config names (jobs.keyEnv). Throws with a
 * line that says how to fix it; the key's value never appears in a message.
 */
export function jobKeyFrom(env: NodeJS.ProcessEnv, keyEnv: string): Buffer {
  // A runtime built with an explicit env (tests, bench) still finds the process's key.
  const v = env[keyEnv] ?? process.env[keyEnv];
  if (!v)
    throw new JobKeyError(
      `${keyEnv} is not set: every worker and the producer need the same job-signing key (generate one with \`openssl rand -hex 32\`; keep it out of Redis and out of the test worker's tests)`,
    );
  if (v.length < MIN_JOB_KEY_CHARS)
    throw new JobKeyError(
      `${keyEnv} is too short (${v.length} characters; at least ${MIN_JOB_KEY_CHARS}): generate one with \`openssl rand -hex 32\``,
    );
  return Buffer.from(v, 'utf8');
}

/** A UsageError, so every CLI prints its one line and exits 2 instead of a stack. */
class JobKeyError extends UsageError {}
