import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, clearSecrets, redactDeep, redactError, redactText, registerSecrets } from '@prbot/core';
import { secretValues } from '@prbot/config';

const KEY = 'sk-model-key-0123456789';
afterEach(() => clearSecrets());

describe('redact', () => {
  it('replaces known values, in the spellings they travel in', () => {
    registerSecrets([KEY, 'short']);
    expect(redactText(`Bearer ${KEY}.`)).toBe('Bearer [redacted].');
    expect(redactText(Buffer.from(`x-access-token:${KEY}`).toString('base64'))).toBe('[redacted]');
    expect(redactText('short stays: too short to scrub safely')).toContain('short');
  });

  it('scrubs every string of a record, keys and errors included', () => {
    registerSecrets([KEY]);
    const out = redactDeep({ reason: `HTTP 401: ${KEY}`, n: 3, nested: [{ [KEY]: KEY }], ok: null });
    expect(JSON.stringify(out)).not.toContain(KEY);
    expect(out.n).toBe(3);
    const err = redactError(new Error(`echo ${KEY}`));
    expect(err.message).toBe('echo [redacted]');
    expect(err.stack).not.toContain(KEY);
  });

  it("finds the deployment's secrets: model keys, forge token, Redis password in config or REDIS_URL, job key", () => {
    const cfg = {
      models: {
        providers: {
          a: { kind: 'openai', baseUrl: 'http://x', keyEnv: 'A_KEY', headers: {}, structuredOutput: 'none' },
        },
      },
      forge: { kind: 'gitea', tokenEnv: 'GITEA_TOKEN' },
      redis: { url: 'redis://:pw-in-file-123@h:6379', prefix: '{p}' },
    } as unknown as Parameters<typeof secretValues>[0];
    const v = secretValues(cfg, {
      A_KEY: KEY,
      GITEA_TOKEN: 'gt-token-123456',
      PRBOT_JOB_KEY: 'job-key-123456',
      REDIS_URL: 'redis://default:pw-env-123456@h:6379',
    });
    expect(v).toEqual(
      expect.arrayContaining([KEY, 'gt-token-123456', 'job-key-123456', 'pw-in-file-123', 'pw-env-123456']),
    );
  });

  it('keeps secrets out of log lines, in objects and in free text', () => {
    registerSecrets([KEY]);
    const out: string[] = [];
    const dest = new PassThrough();
    dest.on('data', (c: Buffer) => out.push(c.toString()));
    const log = createLogger('info', { pretty: false, destination: dest });
    log.info({ err: `provider said ${KEY}`, headers: { authorization: 'Bearer x' } }, `message with ${KEY}`);
    const text = out.join('');
    expect(text).toContain('[redacted]');
    expect(text).not.toContain(KEY);
    expect(text).not.toContain('Bearer x');
  });
});
