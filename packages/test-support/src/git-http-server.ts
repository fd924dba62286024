import { spawn } from 'node:child_process';
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { listenLoopback } from './listen.ts';

export interface GitHttpServer {
  url: string;
  /** Every request line the server saw (path and query), to check no token is in a URL. */
  requests: { url: string; authorized: boolean; status?: number }[];
  stop(): Promise<void>;
}

export interface GitHttpOptions {
  /**
   * Tokens that authenticate but may only read: a push (the receive-pack advertisement and the
   * pack itself) answers 403 with this text, as the forges do for a token without write access
   * (GitHub: "Permission to o/r.git denied to user.", "Write access to repository not granted.";
   * Gitea/Forgejo: a 403 naming the missing scope or permission), or for an archived repository.
   */
  readOnly?: Record<string, string>;
  /**
   * Branch protection: a pushed ref whose name matches is refused by the server's pre-receive
   * hook with `message`, so git reports "[remote rejected] <ref> (pre-receive hook declined)".
   */
  protect?: { pattern: RegExp; message: string };
}

/**
 * Git's smart HTTP protocol on loopback (`git http-backend` behind a CGI shim) that requires
 * `Authorization: Basic base64(<any>:<token>)`, as Gitea and GitHub do for HTTPS pushes.
 */
export async function startGitHttpServer(root: string, token: string, o: GitHttpOptions = {}): Promise<GitHttpServer> {
  const requests: GitHttpServer['requests'] = [];
  let hooks: string | undefined;
  if (o.protect) {
    hooks = await mkdtemp(path.join(tmpdir(), 'prbot-githooks-'));
    // The pattern goes to the hook as an extended regular expression; the message as given.
    const hook = `#!/bin/sh\nwhile read old new ref; do\n  if printf '%s\\n' "$ref" | grep -Eq ${JSON.stringify(o.protect.pattern.source)}; then\n    echo ${JSON.stringify(o.protect.message)} >&2\n    exit 1\n  fi\ndone\nexit 0\n`;
    await writeFile(path.join(hooks, 'pre-receive'), hook);
    await chmod(path.join(hooks, 'pre-receive'), 0o755);
  }
  const srv = await listenLoopback((req, res) => {
    const auth = req.headers.authorization ?? '';
    const decoded = auth.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString() : '';
    const given = decoded.slice(decoded.indexOf(':') + 1);
    const known = given === token || (o.readOnly !== undefined && given in o.readOnly);
    const entry: GitHttpServer['requests'][number] = { url: req.url ?? '', authorized: known };
    requests.push(entry);
    res.on('finish', () => (entry.status = res.statusCode));
    if (!known) {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="git"' }).end('unauthorized');
      return;
    }
    const u = new URL(req.url ?? '/', 'http://x');
    const pushing = u.searchParams.get('service') === 'git-receive-pack' || u.pathname.endsWith('/git-receive-pack');
    if (pushing && o.readOnly && given in o.readOnly) {
      res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8' }).end(`${o.readOnly[given]}\n`);
      return;
    }
    const cfg: [string, string][] = [
      ['http.receivepack', 'true'],
      ...(hooks ? ([['core.hooksPath', hooks]] as [string, string][]) : []),
    ];
    const cgi = spawn('git', ['http-backend'], {
      env: {
        PATH: process.env.PATH,
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: '1',
        PATH_INFO: decodeURIComponent(u.pathname),
        QUERY_STRING: u.search.slice(1),
        REQUEST_METHOD: req.method,
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        REMOTE_USER: 'prbot',
        REMOTE_ADDR: '127.0.0.1',
        GIT_CONFIG_COUNT: String(cfg.length),
        ...Object.fromEntries(
          cfg.flatMap(([k, v], i) => [
            [`GIT_CONFIG_KEY_${i}`, k],
            [`GIT_CONFIG_VALUE_${i}`, v],
          ]),
        ),
      },
    });
    req.pipe(cgi.stdin);
    let head = Buffer.alloc(0);
    let headersDone = false;
    cgi.stdout.on('data', (chunk: Buffer) => {
      if (headersDone) return void res.write(chunk);
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      headersDone = true;
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head.subarray(0, end).toString().split('\r\n')) {
        const i = line.indexOf(':');
        const k = line.slice(0, i).trim();
        const v = line.slice(i + 1).trim();
        if (k.toLowerCase() === 'status') status = Number(v.split(' ')[0]);
        else headers[k] = v;
      }
      res.writeHead(status, headers);
      res.write(head.subarray(end + 4));
    });
    cgi.on('close', () => res.end());
  });
  return { url: srv.url, requests, stop: srv.stop };
}
