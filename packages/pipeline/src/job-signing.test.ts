import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { UsageError } from '@prbot/core';
import { jobKeyFrom, jobSignatureDefence, jobSignatureRefusal, signJob, withoutSig } from './job-signing.ts';

const KEY = Buffer.from('k'.repeat(64));
const OTHER = Buffer.from('o'.repeat(64));
const UNSIGNED = 'job signature invalid: the job is unsigned (not enqueued by a prbot worker or producer)';
const ALTERED = 'job signature invalid: the job data was altered after it was signed, or signed with another key';

describe('job signing', () => {
  it('verifies by default: nothing but a test switches it off', () => {
    expect(jobSignatureDefence).toEqual({ verify: true });
  });

  it('signs with HMAC-SHA256 over "prbot-job-v1", the queue and the canonical JSON (a known answer)', () => {
    // Workers of two releases must agree on the bytes: this pins them.
    const signed = signJob('pr', { b: 'x', a: 1 }, KEY);
    const want = createHmac('sha256', KEY).update('prbot-job-v1\0pr\0{"a":1,"b":"x"}').digest('hex');
    expect(signed).toEqual({ b: 'x', a: 1, _sig: want });
  });

  it('accepts its own signature, whatever the key order or JSON-dropped fields', () => {
    const signed = signJob('test', { cycleId: 'c1', n: 2, gone: undefined }, KEY);
    expect(jobSignatureRefusal('test', signed, KEY)).toBeNull();
    const reordered = JSON.parse(JSON.stringify({ _sig: signed._sig, n: 2, cycleId: 'c1' })) as object;
    expect(jobSignatureRefusal('test', reordered, KEY)).toBeNull();
  });

  it('refuses altered data, another queue and another key', () => {
    const signed = signJob('test', { cycleId: 'c1', branch: 'prbot/a' }, KEY);
    expect(jobSignatureRefusal('test', { ...signed, branch: 'main' }, KEY)).toBe(ALTERED);
    expect(jobSignatureRefusal('test', { ...signed, extra: 1 }, KEY)).toBe(ALTERED);
    expect(jobSignatureRefusal('pr', signed, KEY)).toBe(ALTERED);
    expect(jobSignatureRefusal('test', signed, OTHER)).toBe(ALTERED);
  });

  it('refuses data that is not an object, and signatures that are missing or malformed', () => {
    expect(jobSignatureRefusal('pr', null, KEY)).toBe('job signature invalid: the job data is not an object');
    expect(jobSignatureRefusal('pr', 'x', KEY)).toBe('job signature invalid: the job data is not an object');
    const good = signJob('pr', { a: 1 }, KEY)._sig;
    // An array of the right hex would pass the shape check as text, and then make timingSafeEqual throw.
    for (const sig of [undefined, 7, [good], '', good.slice(1), `${good}0`, `x${good}`, `${good}x`, good.toUpperCase()])
      expect(jobSignatureRefusal('pr', { a: 1, _sig: sig }, KEY), String(sig)).toBe(UNSIGNED);
    expect(jobSignatureRefusal('pr', { a: 1 }, KEY)).toBe(UNSIGNED);
  });

  it('positive control: with verification switched off a forged job passes; on, it is refused', () => {
    const forged = { cycleId: 'c1', _sig: '0'.repeat(64) };
    expect(jobSignatureRefusal('pr', forged, KEY)).toBe(ALTERED);
    jobSignatureDefence.verify = false;
    try {
      expect(jobSignatureRefusal('pr', forged, KEY)).toBeNull();
      expect(jobSignatureRefusal('pr', null, KEY)).toBeNull();
    } finally {
      jobSignatureDefence.verify = true;
    }
  });

  it('withoutSig drops only the signature, and re-signing signs the payload without it', () => {
    const signed = signJob('pr', { a: 1, b: [2] }, KEY);
    expect(withoutSig(signed)).toEqual({ a: 1, b: [2] });
    expect(signJob('pr', signed, KEY)._sig).toBe(signed._sig);
    expect(signJob('pr', { ...signed, _sig: 'stale' }, KEY)._sig).toBe(signed._sig);
  });
});

describe('jobKeyFrom', () => {
  const ENV = 'PRBOT_TEST_JOB_KEY_UNSET_ANYWHERE';

  it('reads the named variable, 32 characters or more', () => {
    expect(jobKeyFrom({ [ENV]: 'a'.repeat(32) }, ENV)).toEqual(Buffer.from('a'.repeat(32)));
  });

  it('refuses a missing or short key with a usage error that never shows the value', () => {
    expect(() => jobKeyFrom({}, ENV)).toThrow(UsageError);
    expect(() => jobKeyFrom({ [ENV]: '' }, ENV)).toThrow(`${ENV} is not set`);
    const short = 's3cr3t'.repeat(6).slice(0, 31);
    let err: unknown;
    try {
      jobKeyFrom({ [ENV]: short }, ENV);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toBe(
      `${ENV} is too short (31 characters; at least 32): generate one with \`openssl rand -hex 32\``,
    );
    expect((err as Error).message).not.toContain(short);
  });

  it("falls back to the process's environment when the given env lacks the variable", () => {
    process.env[ENV] = 'p'.repeat(40);
    try {
      expect(jobKeyFrom({}, ENV)).toEqual(Buffer.from('p'.repeat(40)));
    } finally {
      delete process.env[ENV];
    }
  });
});
