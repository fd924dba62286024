import type http from 'node:http';
import { Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { listenLoopback, withDefenceOff } from '@prbot/test-support';
import {
  RateLimited,
  TransientError,
  boundedReadDefences,
  createLogger,
  clearSecrets,
  inertTextDefence,
  redactionDefence,
  registerSecrets,
  retryAfterDefence,
} from '@prbot/core';
import { GiteaForge } from './gitea/driver.ts';
import { GithubForge, githubFetchDefence } from './github/driver.ts';
import { ForgeRefused } from './forge-errors.ts';
import { forgeHttpDefences } from './http.ts';
import { prListingDefence, signedMarker } from './types.ts';

// Hostile forges, performed for real: a loopback HTTP server answers the real Gitea driver
// (undici) and the real GitHub driver (Octokit over fetch) with what no published API
// description allows, and the driver must end with a named error, within its bounds, never
// sending the token anywhere else and never repeating escapes or the token in what it says.

const TOKEN = 'tok-hostile-forge-0123456789';
const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0)) await s();
  clearSecrets();
});

async function server(handler: http.RequestListener): Promise<string> {
  const s = await listenLoopback(handler);
  stops.push(s.stop);
  return s.url;
}

function logSink() {
  const warnings: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const line of chunk.toString().split('\n').filter(Boolean))
        warnings.push((JSON.parse(line) as { msg: string }).msg);
      cb();
    },
  });
  return { warnings, log: createLogger('warn', { pretty: false, destination: sink }) };
}

const common = (o: { timeoutMs?: number; maxAnswerBytes?: number; maxPages?: number } = {}) => ({
  owner: 'team',
  repo: 'app',
  token: TOKEN,
  tokenEnv: 'FORGE_TOKEN',
  remote: '/nonexistent',
  branchPrefix: 'bot/',
  timeoutMs: o.timeoutMs ?? 5000,
  base: 'main',
  draftPrefix: 'WIP: ',
  maxPages: o.maxPages ?? 50,
  maxAnswerBytes: o.maxAnswerBytes ?? 1024 * 1024,
  ...logSink(),
});
const gitea = (url: string, o?: Parameters<typeof common>[0], c = common(o)) => new GiteaForge({ ...c, baseUrl: url });
const github = (url: string, o?: Parameters<typeof common>[0]) =>
  new GithubForge({ ...common(o), apiUrl: url, rateLimitWaitMs: 0 });

async function failure(p: Promise<unknown>): Promise<Error> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(Error);
  return err as Error;
}

const ACTIVE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

describe('hostile Gitea answers', () => {
  it('a PR listing that never ends is cut at the answer cap, and the connection dropped', async () => {
    let written = 0;
    let closed = false;
    const url = await server((_r, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('[');
      const item = Buffer.from(JSON.stringify({ number: 1, body: 'x'.repeat(60_000) }) + ',');
      const pump = () => {
        while (!closed && res.write(item)) written += item.length;
        if (!closed) res.once('drain', pump);
      };
      res.on('close', () => (closed = true));
      pump();
    });
    const err = await failure(gitea(url).listBotPrs());
    expect(err).toBeInstanceOf(TransientError);
    expect(err.message).toMatch(/larger than 1048576 bytes/);
    await expect.poll(() => closed).toBe(true);
    expect(written).toBeLessThan(64 * 1024 * 1024);
  });

  it('a listing dripped one byte every 20 ms ends at the whole-call deadline as a TransientError', async () => {
    const url = await server((_r, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const t = setInterval(() => res.write(' '), 20);
      res.on('close', () => clearInterval(t));
    });
    const err = await failure(gitea(url, { timeoutMs: 600 }).listBotPrs());
    expect(err).toBeInstanceOf(TransientError);
    expect(err.message).toMatch(/no whole answer within 600 ms/);
  });

  it('a gzip-encoded listing (a bomb) is refused unexpanded', async () => {
    const bomb = gzipSync(Buffer.concat([Buffer.from('['), Buffer.alloc(40 * 1024 * 1024, 0x20), Buffer.from(']')]));
    const url = await server((_r, res) =>
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }).end(bomb),
    );
    const err = await failure(gitea(url).listBotPrs());
    expect(err).toBeInstanceOf(TransientError);
    expect(err.message).toMatch(/Content-Encoding gzip/);
  });

  it('a redirect to another host is refused; the token never goes there', async () => {
    const elsewhere: (string | undefined)[] = [];
    const other = await server((r, res) => {
      elsewhere.push(r.headers.authorization);
      res.writeHead(200, { 'content-type': 'application/json' }).end('[]');
    });
    const url = await server((r, res) => res.writeHead(302, { location: `${other}${r.url}` }).end());
    const err = await failure(gitea(url).listBotPrs());
    expect(err).toBeInstanceOf(ForgeRefused);
    expect(err.message).toMatch(/HTTP 302 \(a redirect\), not followed/);
    expect(elsewhere).toEqual([]);
  });

  it('a Link header that points at itself forever stops at maxPages with a warning', async () => {
    let n = 0;
    const url = await server((r, res) => {
      n++;
      res.writeHead(200, { 'content-type': 'application/json', link: `<${url}${r.url}>; rel="next"` }).end('[]');
    });
    const forge = gitea(url, { maxPages: 7 });
    await expect(forge.listBotPrs()).resolves.toEqual([]);
    expect(n).toBe(7);
  });

  it('an HTML 502 page full of escapes is named by its title, inert', async () => {
    const url = await server((_r, res) =>
      res
        .writeHead(502, { 'content-type': 'text/html' })
        .end(
          `<!DOCTYPE html><html><head><title>Bad \u001b[31mGateway\u202e</title></head><body>${'<p>x</p>'.repeat(1000)}</body></html>`,
        ),
    );
    const err = await failure(gitea(url).listBotPrs());
    expect(err).toBeInstanceOf(TransientError);
    expect(err.message).toMatch(/an HTML page titled "Bad Gateway" instead of JSON/);
    expect(err.message).not.toMatch(ACTIVE);
  });

  it.each([
    [403, 'forbidden'],
    [404, 'not found'],
    [422, 'unprocessable'],
  ])('a %i whose message echoes the token with terminal escapes says neither', async (status) => {
    registerSecrets([TOKEN]);
    const url = await server((r, res) =>
      res.writeHead(status, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          message: `${r.headers.authorization} \u001b]8;;http://evil\u0007click\u001b]8;;\u0007 \u009b2J \u202eevil`,
        }),
      ),
    );
    const err = await failure(
      gitea(url).openDraft({ branch: 'bot/x', base: 'main', title: 't', body: 'b', cycleId: 'c1', labels: [] }),
    );
    const said = `${err.message} ${(err as ForgeRefused).forgeMessage ?? ''}`;
    expect(said).not.toContain(TOKEN);
    expect(said).not.toMatch(ACTIVE);
  });

  it.each([
    ['huge', '999999999999', 3_600_000],
    ['negative', '-5', 30_000],
    ['an HTTP date far ahead', new Date(Date.now() + 365 * 86_400_000).toUTCString(), 3_600_000],
    ['garbage', 'soon', 30_000],
  ])('a 429 with a Retry-After that is %s waits a bounded time', async (_what, header, most) => {
    const url = await server((_r, res) =>
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': header }).end('{}'),
    );
    const err = await failure(gitea(url).listBotPrs());
    expect(err).toBeInstanceOf(RateLimited);
    expect((err as RateLimited).waitMs).toBeGreaterThan(0);
    expect((err as RateLimited).waitMs).toBeLessThanOrEqual(most);
  });
});

const goodPr = (n: number, extra: Record<string, unknown> = {}) => ({
  number: n,
  html_url: `http://forge.example/team/app/pulls/${n}`,
  state: 'open',
  merged: false,
  merged_at: null,
  body: `text\n${signedMarker('c0000000000001', 'g0123456789ab')}`,
  updated_at: '2026-11-29T00:00:00Z',
  head: { ref: `bot/x-${n}`, label: `bot/x-${n}`, repo: { full_name: 'team/app' } },
  ...extra,
});

/** A forge answering every PR listing with malformed items and one good PR, and a driver of `kind` on it. */
async function malformedListing(kind: 'gitea' | 'github') {
  const url = await server((_r, res) =>
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(
        JSON.stringify([
          goodPr(1, { body: 123 }),
          goodPr(2, { head: null }),
          goodPr(3, { html_url: 'javascript:alert(1)' }),
          { __proto__: { x: 1 } },
          'nope',
          goodPr(4),
        ]),
      ),
  );
  const c = common();
  const forge =
    kind === 'gitea'
      ? new GiteaForge({ ...c, baseUrl: url })
      : new GithubForge({ ...c, apiUrl: url, rateLimitWaitMs: 0 });
  return { forge, warnings: c.warnings };
}

describe('hostile PR listings', () => {
  it.each(['gitea', 'github'] as const)(
    '%s: malformed PR items (a number for a body, no head, a javascript: URL) are skipped with one warning, the good one kept',
    async (kind) => {
      const { forge, warnings } = await malformedListing(kind);
      const prs = await forge.listBotPrs();
      expect(prs.map((p) => p.number)).toEqual([4]);
      expect(warnings.join('\n')).toMatch(/skipped 5 pull request\(s\) the forge described malformed/);
    },
  );

  it.each(['gitea', 'github'] as const)(
    'positive control: %s: with the zod check of listing items off, the same listing ends with the TypeError',
    async (kind) => {
      const { forge } = await malformedListing(kind);
      const err = await withDefenceOff(prListingDefence, 'check', () => failure(forge.listBotPrs()));
      // The GitHub driver wraps whatever its call throws as a TransientError that quotes it.
      expect(err).toBeInstanceOf(kind === 'gitea' ? TypeError : TransientError);
      expect(err.message).toMatch(/split is not a function/);
    },
  );
});

describe('hostile GitHub answers (Octokit over fetch)', () => {
  it('a redirect to another port is refused; the token never goes there', async () => {
    const elsewhere: (string | undefined)[] = [];
    const other = await server((r, res) => {
      elsewhere.push(r.headers.authorization);
      res.writeHead(200, { 'content-type': 'application/json' }).end('[]');
    });
    const url = await server((r, res) => res.writeHead(307, { location: `${other}${r.url}` }).end());
    const err = await failure(github(url).listBotPrs());
    expect(err).toBeInstanceOf(TransientError);
    expect(err.message).toMatch(/redirect\), not followed/);
    expect(elsewhere).toEqual([]);
  });

  it('a redirect to another path of the same host is refused too (fetch keeps the token within an origin)', async () => {
    const seen: string[] = [];
    const url = await server((r, res) => {
      seen.push(r.url ?? '');
      if (r.url?.startsWith('/elsewhere')) res.writeHead(200, { 'content-type': 'application/json' }).end('[]');
      else res.writeHead(302, { location: '/elsewhere/collect' }).end();
    });
    const err = await failure(github(url).listBotPrs());
    expect(err).toBeInstanceOf(TransientError);
    expect(seen.filter((p) => p.startsWith('/elsewhere'))).toEqual([]);
  });

  // Octokit's paginate requests a Link URL as given, with the token: one on another origin is
  // re-based onto the API's own (as the Gitea driver does), so the token stays home.
  it('a Link to another origin is re-based onto the API; the token never goes there', async () => {
    const elsewhere: (string | undefined)[] = [];
    const other = await server((r, res) => {
      elsewhere.push(r.headers.authorization);
      res.writeHead(200, { 'content-type': 'application/json' }).end('[]');
    });
    const home: string[] = [];
    const url = await server((r, res) => {
      home.push(r.url ?? '');
      const first = (r.url ?? '').startsWith('/repos/');
      res
        .writeHead(200, {
          'content-type': 'application/json',
          ...(first ? { link: `<${other}/repositories/7/pulls?page=2>; rel="next"` } : {}),
        })
        .end('[]');
    });
    await expect(github(url).listBotPrs()).resolves.toEqual([]);
    expect(elsewhere).toEqual([]);
    expect(home.at(-1)).toBe('/repositories/7/pulls?page=2');
  });

  it('a Link header that points at itself forever stops at maxPages', async () => {
    let n = 0;
    const url = await server((r, res) => {
      n++;
      res.writeHead(200, { 'content-type': 'application/json', link: `<${url}${r.url}>; rel="next"` }).end('[]');
    });
    await expect(github(url, { maxPages: 7 }).listBotPrs()).resolves.toEqual([]);
    expect(n).toBe(7);
  });

  it('a gzip bomb (a valid, empty listing padded to 40 MB) is stopped at the cap after decompression', async () => {
    const bomb = gzipSync(Buffer.concat([Buffer.from('['), Buffer.alloc(40 * 1024 * 1024, 0x20), Buffer.from(']')]));
    const url = await server((_r, res) =>
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-encoding': 'gzip' }).end(bomb),
    );
    const err = await failure(github(url).listBotPrs());
    expect(err).toBeInstanceOf(TransientError);
    expect(err.message).toMatch(/larger than 1048576 bytes/);
  });

  it('an answer that never ends is cut at the cap', async () => {
    let closed = 0;
    const url = await server((_r, res) => {
      // Octokit's retry plugin asks twice (the first failure is a 500 to it): every answer is endless.
      let done = false;
      res.on('close', () => {
        done = true;
        closed++;
      });
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      res.write('[');
      const pump = () => {
        while (!done && res.write(chunk));
        if (!done) res.once('drain', pump);
      };
      pump();
    });
    const err = await failure(github(url).listBotPrs());
    expect(err).toBeInstanceOf(TransientError);
    expect(err.message).toMatch(/larger than 1048576 bytes/);
    await expect.poll(() => closed).toBeGreaterThan(0);
  });
});

// Positive controls: each defence above switched off alone (its test-only switch, back on in a
// `finally`), the same hostile answer from the same kind of loopback server, and the harm it
// prevents asserted. With the switch left on, each of these fails.
describe('positive controls: one defence off, the same hostile forge gets through', () => {
  it('positive control: with the byte cap off, a 10 MB listing is read whole and taken as the answer', async () => {
    let written = 0;
    const url = await server((_r, res) => {
      const items = Array.from({ length: 180 }, (_, i) => ({ number: i + 1, body: 'x'.repeat(60_000) }));
      const body = Buffer.from(JSON.stringify(items));
      written = body.length;
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    });
    const c = common();
    expect((await failure(gitea(url, {}, c).listBotPrs())).message).toMatch(/larger than 1048576 bytes/);
    await withDefenceOff(boundedReadDefences, 'cap', () => gitea(url, {}, c).listBotPrs());
    expect(written).toBeGreaterThan(10 * 1024 * 1024);
    // Read and parsed whole: its 180 items were each judged (malformed: no head), none refused as too large.
    expect(c.warnings.join('\n')).toMatch(/skipped 180 pull request\(s\)/);
  });

  it('positive control: with the declared-size refusal off, a Content-Length of 10 GB is read until the cap', async () => {
    const url = await server((_r, res) => {
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
    expect((await failure(gitea(url).listBotPrs())).message).toMatch(/declares 10737418240 bytes/);
    const err = await withDefenceOff(boundedReadDefences, 'declaredSize', () => failure(gitea(url).listBotPrs()));
    expect(err).toBeInstanceOf(TransientError);
    expect(err.message).toMatch(/larger than 1048576 bytes/);
  });

  it('positive control: with the whole-call deadline off, a dripped listing keeps the call alive past it', async () => {
    const timeoutMs = 300;
    let afterDeadline = 0;
    const url = await server((_r, res) => {
      const t0 = Date.now();
      res.writeHead(200, { 'content-type': 'application/json' });
      let n = 0;
      const t = setInterval(() => {
        if (Date.now() - t0 > timeoutMs) afterDeadline++;
        if (++n < 60) res.write(' ');
        else {
          clearInterval(t);
          res.end('[]');
        }
      }, 20);
      res.on('close', () => clearInterval(t));
    });
    expect((await failure(gitea(url, { timeoutMs }).listBotPrs())).message).toMatch(/no whole answer within 300 ms/);
    afterDeadline = 0;
    await expect(
      withDefenceOff(boundedReadDefences, 'deadline', () => gitea(url, { timeoutMs }).listBotPrs()),
    ).resolves.toEqual([]);
    expect(afterDeadline).toBeGreaterThan(0);
  });

  it('positive control: with the encoding refusal off, a gzip-encoded listing is read as no PRs at all', async () => {
    const bomb = gzipSync(Buffer.from(JSON.stringify([goodPr(1)])));
    const url = await server((_r, res) =>
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }).end(bomb),
    );
    expect((await failure(gitea(url).listBotPrs())).message).toMatch(/Content-Encoding gzip/);
    // The compressed bytes are not JSON, so the listing is taken as empty: the bot's open PR is not seen.
    await expect(withDefenceOff(boundedReadDefences, 'encoding', () => gitea(url).listBotPrs())).resolves.toEqual([]);
  });

  it('positive control: Gitea, with redirects followed (undici redirect interceptor), the other server receives the request and its listing is used', async () => {
    const elsewhere: (string | undefined)[] = [];
    const other = await server((r, res) => {
      elsewhere.push(r.url);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify([goodPr(9)]));
    });
    const url = await server((r, res) => res.writeHead(302, { location: `${other}${r.url}` }).end());
    const prs = await withDefenceOff(forgeHttpDefences, 'noRedirects', () => gitea(url).listBotPrs());
    expect(elsewhere.length).toBeGreaterThan(0);
    expect(prs.map((p) => p.number)).toEqual([9]);
  });

  it('positive control: GitHub, with fetch left to follow redirects, the other server receives the request', async () => {
    const elsewhere: (string | undefined)[] = [];
    const other = await server((r, res) => {
      elsewhere.push(r.url);
      res.writeHead(200, { 'content-type': 'application/json' }).end('[]');
    });
    const url = await server((r, res) => res.writeHead(307, { location: `${other}${r.url}` }).end());
    await expect(withDefenceOff(githubFetchDefence, 'noRedirects', () => github(url).listBotPrs())).resolves.toEqual(
      [],
    );
    expect(elsewhere.length).toBeGreaterThan(0);
  });

  it('positive control: GitHub, with the byte cap off, the gzip bomb is decompressed whole and accepted', async () => {
    const bomb = gzipSync(Buffer.concat([Buffer.from('['), Buffer.alloc(40 * 1024 * 1024, 0x20), Buffer.from(']')]));
    const url = await server((_r, res) =>
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-encoding': 'gzip' }).end(bomb),
    );
    await expect(withDefenceOff(boundedReadDefences, 'cap', () => github(url).listBotPrs())).resolves.toEqual([]);
  });

  const echoing = () =>
    server((r, res) =>
      res.writeHead(403, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          message: `${r.headers.authorization} \u001b]8;;http://evil\u0007click\u001b]8;;\u0007 \u202eevil`,
        }),
      ),
    );
  const draft = { branch: 'bot/x', base: 'main', title: 't', body: 'b', cycleId: 'c1', labels: [] };

  it('positive control: with redaction off, the token the forge echoes stands in ForgeRefused', async () => {
    registerSecrets([TOKEN]);
    const url = await echoing();
    const err = await withDefenceOff(redactionDefence, 'on', () => failure(gitea(url).openDraft(draft)));
    expect(`${err.message} ${(err as ForgeRefused).forgeMessage ?? ''}`).toContain(TOKEN);
  });

  it('positive control: with inertText off, the OSC 8 link and the bidi override stand in ForgeRefused', async () => {
    registerSecrets([TOKEN]);
    const url = await echoing();
    const err = await withDefenceOff(inertTextDefence, 'strip', () => failure(gitea(url).openDraft(draft)));
    expect(err.message).toMatch(ACTIVE);
    expect(err.message).toContain('\u001b]8;;http://evil\u0007');
  });

  it('positive control: with the HTML-title naming off, the 502 page is quoted as markup', async () => {
    const url = await server((_r, res) =>
      res
        .writeHead(502, { 'content-type': 'text/html' })
        .end(
          `<!DOCTYPE html><html><head><title>Bad Gateway</title></head><body>${'<p>x</p>'.repeat(1000)}</body></html>`,
        ),
    );
    const err = await withDefenceOff(forgeHttpDefences, 'htmlTitle', () => failure(gitea(url).listBotPrs()));
    expect(err.message).not.toMatch(/an HTML page titled/);
    expect(err.message).toContain('<!DOCTYPE html><html><head><title>');
  });

  it.each([
    ['huge', '999999999999', 999_999_999_999_000],
    ['negative', '-5', -5000],
  ])(
    'positive control: with the Retry-After bounds off, a Retry-After that is %s is the wait as sent',
    async (_what, header, wait) => {
      const url = await server((_r, res) =>
        res.writeHead(429, { 'content-type': 'application/json', 'retry-after': header }).end('{}'),
      );
      const err = await withDefenceOff(retryAfterDefence, 'bounds', () => failure(gitea(url).listBotPrs()));
      expect(err).toBeInstanceOf(RateLimited);
      expect((err as RateLimited).waitMs).toBe(wait);
    },
  );

  it('positive control: with the Retry-After bounds off, an HTTP date a year ahead is a wait of a year', async () => {
    const url = await server((_r, res) =>
      res
        .writeHead(429, {
          'content-type': 'application/json',
          'retry-after': new Date(Date.now() + 365 * 86_400_000).toUTCString(),
        })
        .end('{}'),
    );
    const err = await withDefenceOff(retryAfterDefence, 'bounds', () => failure(gitea(url).listBotPrs()));
    expect((err as RateLimited).waitMs).toBeGreaterThan(364 * 86_400_000);
  });

  it.each(['gitea', 'github'] as const)(
    'positive control: %s: with maxPages off, a self-pointing Link is followed past the cap (the forge stops it at 20)',
    async (kind) => {
      let n = 0;
      const url = await server((r, res) => {
        n++;
        // Bounded by the server, so the control ends: a Link to itself for the first 20 pages.
        res
          .writeHead(200, {
            'content-type': 'application/json',
            ...(n < 20 ? { link: `<${url}${r.url}>; rel="next"` } : {}),
          })
          .end('[]');
      });
      const forge = kind === 'gitea' ? gitea(url, { maxPages: 7 }) : github(url, { maxPages: 7 });
      await expect(withDefenceOff(forgeHttpDefences, 'maxPages', () => forge.listBotPrs())).resolves.toEqual([]);
      expect(n).toBe(20);
    },
  );
});
