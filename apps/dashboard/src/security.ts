import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { UsageError } from '@prbot/core';

export interface BasicAuth {
  user: string;
  password: string;
}

/** Credentials come from the environment only: PRBOT_DASHBOARD_USER and PRBOT_DASHBOARD_PASSWORD. */
export function authFromEnv(env: NodeJS.ProcessEnv): BasicAuth | null {
  const user = env.PRBOT_DASHBOARD_USER;
  const password = env.PRBOT_DASHBOARD_PASSWORD;
  if (!user && !password) return null;
  if (!user || !password)
    throw new UsageError('set both PRBOT_DASHBOARD_USER and PRBOT_DASHBOARD_PASSWORD, or neither');
  return { user, password };
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/** Listening beyond loopback exposes pause/resume and job data: only with basic auth. */
export function assertSafeBind(host: string, auth: BasicAuth | null): void {
  if (!LOOPBACK.test(host) && !auth) {
    throw new UsageError(
      `refusing to listen on ${host} without basic auth: set PRBOT_DASHBOARD_USER and PRBOT_DASHBOARD_PASSWORD, or bind 127.0.0.1`,
    );
  }
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function basicAuth(auth: BasicAuth) {
  return (req: Request, res: Response, next: NextFunction) => {
    const h = req.headers.authorization ?? '';
    const [scheme, encoded] = h.split(' ');
    if (scheme === 'Basic' && encoded) {
      const decoded = Buffer.from(encoded, 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      if (i > 0 && same(decoded.slice(0, i), auth.user) && same(decoded.slice(i + 1), auth.password)) return next();
    }
    res.set('WWW-Authenticate', 'Basic realm="prbot", charset="UTF-8"').status(401).send('authentication required');
  };
}

/** A random id per browser, which the CSRF token is bound to (there are no sessions). */
export function browserId(secure: boolean) {
  return (req: Request, res: Response, next: NextFunction) => {
    if (!req.cookies?.prbot_sid) {
      const sid = randomBytes(16).toString('hex');
      res.cookie('prbot_sid', sid, { httpOnly: true, sameSite: 'strict', secure, path: '/' });
      req.cookies = { ...req.cookies, prbot_sid: sid };
    }
    next();
  };
}

/**
 * Bull Board's own write endpoints have no CSRF token; they are JSON calls from its page. A
 * cross-site request is refused by its Origin / Sec-Fetch-Site headers, which browsers set
 * and pages cannot forge.
 */
export function sameOriginWrites(req: Request, res: Response, next: NextFunction) {
  if (req.method === 'GET' || req.method === 'HEAD') return next();
  const site = req.headers['sec-fetch-site'];
  const origin = req.headers.origin;
  const host = req.headers.host;
  if (site === 'cross-site' || (origin && host && new URL(origin).host !== host)) {
    res.status(403).json({ error: 'cross-site request refused' });
    return;
  }
  next();
}
