import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

/**
 * Forge webhook deliveries for tests: vendored payloads (specs/webhooks, see its README), signed
 * and sent with the headers each forge really sends.
 */

const addFormats = addFormatsModule as unknown as (a: Ajv) => Ajv;
const dir = new URL('../specs/webhooks/', import.meta.url);

/** GitHub fixtures: ping, issue-comment-created, pull-request-review-comment-created, pull-request-labeled, pull-request-closed, issues-edited. Gitea: issue_comment-created, pull_request-closed, pull_request-label_updated, issues-edited. */
export function webhookFixture(kind: 'gitea' | 'github', name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(`${kind}/${name}.json`, dir), 'utf8')) as Record<string, unknown>;
}

/**
 * GitHub's recorded example deliveries (specs/webhooks/github-examples, from npm
 * @octokit/webhooks-examples 7.6.1): issue_comment.created, pull_request_review_comment.created,
 * pull_request_review.submitted, pull_request.labeled, pull_request.closed.
 */
export function githubExample(name: string): Record<string, any> {
  // eslint-disable-line @typescript-eslint/no-explicit-any
  return JSON.parse(readFileSync(new URL(`github-examples/${name}.json`, dir), 'utf8')) as Record<string, unknown>;
}

let validators: Map<string, ValidateFunction> | null = null;

/** Checks a GitHub payload against GitHub's published webhook schema for that event; null when valid. */
export function githubWebhookProblem(name: string, payload: unknown): string | null {
  if (!validators) {
    const subset = JSON.parse(readFileSync(new URL('github-webhooks.subset.json', dir), 'utf8')) as {
      schemas: Record<string, object>;
    };
    const ajv = new Ajv({ strict: false, allErrors: true });
    addFormats(ajv);
    validators = new Map(Object.entries(subset.schemas).map(([k, s]) => [k, ajv.compile(nullable(s) as object)]));
  }
  const v = validators.get(name);
  if (!v) throw new Error(`no GitHub webhook schema for ${name}`);
  return v(payload)
    ? null
    : v
        .errors!.slice(0, 5)
        .map((e) => `${e.instancePath || '/'} ${e.message}`)
        .join('; ');
}

/** OpenAPI 3.0's `nullable` is not JSON Schema. */
function nullable(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(nullable);
  if (!s || typeof s !== 'object') return s;
  const o: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s)) o[k] = nullable(v);
  if (o.nullable === true) {
    delete o.nullable;
    if (typeof o.type === 'string') o.type = [o.type, 'null'];
    else if (o.enum) o.enum = [...(o.enum as unknown[]), null];
    else return { anyOf: [o, { type: 'null' }] };
  }
  return o;
}

export interface Delivery {
  kind: 'gitea' | 'github';
  /** X-Gitea-Event / X-GitHub-Event. */
  event: string;
  /** Gitea's X-Gitea-Event-Type (pull_request_comment, pull_request_label …). */
  eventType?: string;
  payload: unknown;
  /** The secret to sign with; omit to send no signature. */
  secret?: string;
  deliveryId?: string;
  /** Send this signature instead of the right one. */
  signature?: string;
  contentType?: string;
  /** Forgejo: X-Forgejo-* headers only. */
  forgejo?: boolean;
  headers?: Record<string, string>;
}

/** The headers a forge sends (Gitea services/webhook/deliver.go; GitHub's webhook docs). */
function deliveryHeaders(d: Delivery, body: string): Record<string, string> {
  const id = d.deliveryId ?? crypto.randomUUID();
  const hex = d.secret === undefined ? undefined : createHmac('sha256', d.secret).update(body).digest('hex');
  const h: Record<string, string> = { 'content-type': d.contentType ?? 'application/json', ...d.headers };
  if (d.kind === 'github') {
    Object.assign(h, {
      'user-agent': 'GitHub-Hookshot/abc123',
      'x-github-event': d.event,
      'x-github-delivery': id,
      'x-github-hook-id': '1',
    });
    const sig = d.signature ?? (hex && `sha256=${hex}`);
    if (sig) h['x-hub-signature-256'] = sig;
  } else if (d.forgejo) {
    Object.assign(h, {
      'user-agent': 'Go-http-client/1.1',
      'x-forgejo-event': d.event,
      'x-forgejo-event-type': d.eventType ?? d.event,
      'x-forgejo-delivery': id,
    });
    const sig = d.signature ?? hex;
    if (sig) h['x-forgejo-signature'] = sig;
  } else {
    // Gitea also sends GitHub-style twins (X-GitHub-Event, X-Hub-Signature-256): prbot goes by forge.kind.
    Object.assign(h, {
      'user-agent': 'Go-http-client/1.1',
      'x-gitea-event': d.event,
      'x-gitea-event-type': d.eventType ?? d.event,
      'x-gitea-delivery': id,
      'x-github-event': d.event,
      'x-github-delivery': id,
    });
    const sig = d.signature ?? hex;
    if (sig) {
      h['x-gitea-signature'] = sig;
      h['x-hub-signature-256'] = `sha256=${sig}`;
    }
  }
  return h;
}

/** POSTs a delivery to `url` (the dashboard's /webhooks); returns the status and JSON answer. */
export async function deliverWebhook(
  url: string,
  d: Delivery,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const body = typeof d.payload === 'string' ? d.payload : JSON.stringify(d.payload);
  const res = await fetch(url, { method: 'POST', headers: deliveryHeaders(d, body), body });
  const text = await res.text();
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    parsed = { text };
  }
  return { status: res.status, body: parsed };
}
