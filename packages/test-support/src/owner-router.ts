import http from 'node:http';
import type { FakeForge } from './forge-server.ts';
import { listenLoopback } from './listen.ts';

/**
 * One Gitea owner's repositories behind one URL, as discovery sees a forge: each repository's
 * API (`/api/v1/repos/<owner>/<name>/…`) goes to that repository's own stand-in (each serves one
 * repository's PRs), everything else (the owner's listing, /version, /user) to `listing`.
 */
export async function startOwnerRouter(
  listing: FakeForge,
  repos: Record<string, FakeForge>,
): Promise<{ url: string; stop(): Promise<void> }> {
  return listenLoopback((req, res) => {
    const m = /^\/api\/v1\/repos\/[^/]+\/([^/?]+)/.exec(req.url ?? '/');
    const to = (m && repos[decodeURIComponent(m[1]!)]) || listing;
    const target = new URL(req.url ?? '/', to.url);
    const up = http.request(target, { method: req.method, headers: { ...req.headers, host: target.host } }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', (err) => res.writeHead(502).end(err.message));
    req.pipe(up);
  });
}
