import { afterEach, describe, expect, it } from 'vitest';
import { clearSecrets, redactDeep, redactError, redactionDefence, redactText, registerSecrets } from './redact.ts';

const KEY = 'sk-unit-0123456789';
afterEach(() => clearSecrets());

describe('redactionDefence (the switch the hostile-provider and hostile-forge controls flip)', () => {
  it('on by default: a registered value is replaced; off: the text is returned as it is', () => {
    registerSecrets([KEY]);
    expect(redactionDefence.on).toBe(true);
    expect(redactText(`x ${KEY} y`)).toBe('x [redacted] y');
    redactionDefence.on = false;
    try {
      expect(redactText(`x ${KEY} y`)).toBe(`x ${KEY} y`);
    } finally {
      redactionDefence.on = true;
    }
    expect(redactText(`x ${KEY} y`)).toBe('x [redacted] y');
  });
});

describe('registerSecrets', () => {
  it('registers values of six characters or more, and nothing shorter or empty', () => {
    registerSecrets(['abcde', '', null, undefined, 'fghijk']);
    expect(redactText('abcde fghijk')).toBe('abcde [redacted]');
    // Not in any spelling either: the base64 of a short value is long enough to match.
    const b64 = Buffer.from('abcde').toString('base64');
    expect(redactText(b64)).toBe(b64);
  });

  it('with nothing long enough registered, text is left alone (no empty pattern)', () => {
    registerSecrets(['abc']);
    expect(redactText('hello')).toBe('hello');
    registerSecrets([KEY]);
    registerSecrets([KEY]); // again: nothing new
    expect(redactText('hello')).toBe('hello');
    expect(redactText(`a ${KEY} b`)).toBe('a [redacted] b');
  });

  it('scrubs each spelling: raw, JSON-escaped, URL-encoded, base64, and the git basic-auth header', () => {
    const v = 'p"w d/é\\x&1';
    registerSecrets([v]);
    const spellings = [
      v,
      JSON.stringify(v).slice(1, -1),
      encodeURIComponent(v),
      Buffer.from(v).toString('base64'),
      Buffer.from(`x-access-token:${v}`).toString('base64'),
    ];
    for (const s of spellings) expect(redactText(`<${s}>`), s).toBe('<[redacted]>');
  });

  it('replaces a value that contains another whole (longest first)', () => {
    registerSecrets(['secret', 'secret-longer']);
    expect(redactText('x secret-longer y')).toBe('x [redacted] y');
    clearSecrets();
    registerSecrets(['secret-longer']);
    registerSecrets(['secret']);
    expect(redactText('x secret-longer y')).toBe('x [redacted] y');
  });

  it('treats a value as literal text, not a pattern', () => {
    registerSecrets(['a.b*c+d?']);
    expect(redactText('aXbbbcd a.b*c+d?')).toBe('aXbbbcd [redacted]');
    registerSecrets(['(x|y)[z]{1}^$']);
    expect(redactText('x (x|y)[z]{1}^$')).toBe('x [redacted]');
  });

  it('clearSecrets forgets every value', () => {
    registerSecrets([KEY]);
    clearSecrets();
    expect(redactText(KEY)).toBe(KEY);
    registerSecrets(['other-value']);
    expect(redactText(KEY)).toBe(KEY);
  });

  it('scrubs every occurrence, in calls one after the other', () => {
    registerSecrets([KEY]);
    expect(redactText(`${KEY}${KEY} ${KEY}`)).toBe('[redacted][redacted] [redacted]');
    expect(redactText(`again ${KEY}`)).toBe('again [redacted]');
    expect(redactText('')).toBe('');
  });
});

describe('redactDeep', () => {
  it('returns the value itself while nothing is registered', () => {
    const v = { a: KEY };
    expect(redactDeep(v)).toBe(v);
  });

  it('copies plain objects, arrays and null-prototype objects with every string and key scrubbed', () => {
    registerSecrets([KEY]);
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { k: KEY });
    const v = { [KEY]: [KEY, 1, true, null, undefined], n: 2, bare };
    const out = redactDeep(v);
    expect(out).toEqual({ '[redacted]': ['[redacted]', 1, true, null, undefined], n: 2, bare: { k: '[redacted]' } });
    expect(v[KEY]![0]).toBe(KEY); // the input is not changed
  });

  it('keeps class instances as they are, and stops 64 levels down', () => {
    registerSecrets([KEY]);
    class Box {
      constructor(readonly s: string) {}
    }
    const box = new Box(KEY);
    expect(redactDeep({ box }).box).toBe(box);
    let deep: unknown = KEY;
    for (let i = 0; i < 70; i++) deep = [deep];
    let out = redactDeep(deep);
    for (let i = 0; i < 70; i++) out = (out as unknown[])[0];
    expect(out).toBe(KEY);
    // An object at depth 64 is still scrubbed; at 65 it is kept as it is.
    let shallow: unknown = { k: KEY };
    for (let i = 0; i < 64; i++) shallow = [shallow];
    let got = redactDeep(shallow);
    for (let i = 0; i < 64; i++) got = (got as unknown[])[0];
    expect(got).toEqual({ k: '[redacted]' });
    const inner = { k: KEY };
    let nested: unknown = inner;
    for (let i = 0; i < 65; i++) nested = { n: nested };
    let kept = redactDeep(nested);
    for (let i = 0; i < 65; i++) kept = (kept as { n: unknown }).n;
    expect(kept).toBe(inner);
  });

  it('copies an Error with its name, message and stack scrubbed', () => {
    registerSecrets([KEY]);
    const e = new TypeError(`bad ${KEY}`);
    const out = redactDeep({ e }).e as Error;
    expect(out).not.toBe(e);
    expect(out.name).toBe('TypeError');
    expect(out.message).toBe('bad [redacted]');
    expect(out.stack).toContain('bad [redacted]');
    expect(out.stack).not.toContain(KEY);
    expect(e.message).toBe(`bad ${KEY}`);
    const noStack = new Error(KEY);
    noStack.stack = undefined;
    expect((redactDeep([noStack])[0] as Error).stack).toBeUndefined();
  });
});

describe('redactError', () => {
  it('scrubs message and stack in place and returns the same error', () => {
    registerSecrets([KEY]);
    const e = new Error(`x ${KEY}`);
    // V8 formats the stack at its first read: read it first, as a logger would have.
    expect(e.stack).toContain(KEY);
    expect(redactError(e)).toBe(e);
    expect(e.message).toBe('x [redacted]');
    expect(e.stack).not.toContain(KEY);
  });

  it('leaves a frozen error, a non-error and an error with nothing registered alone', () => {
    const plain = new Error(KEY);
    expect(redactError(plain).message).toBe(KEY);
    registerSecrets([KEY]);
    const frozen = Object.freeze(new Error(`f ${KEY}`));
    expect(redactError(frozen)).toBe(frozen);
    expect(frozen.message).toBe(`f ${KEY}`);
    expect(redactError(KEY)).toBe(KEY);
    const obj = { message: KEY };
    expect(redactError(obj).message).toBe(KEY);
  });
});
