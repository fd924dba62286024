import { createHmac, timingSafeEqual } from 'node:crypto';

/** What a webhook delivery's headers say, per forge: signature, delivery id and event. */
export interface Delivery {
  signature: string | undefined;
  id: string | undefined;
  event: string | undefined;
  eventType: string;
  /** GitHub's header carries `sha256=` before the hex digest; Gitea's is the bare hex digest. */
  prefix: string;
}

type Headers = Record<string, string | string[] | undefined>;

function header(headers: Headers, ...names: string[]): string | undefined {
  for (const n of names) {
    const v = headers[n];
    if (typeof v === 'string' && v !== '') return v;
  }
  return undefined;
}

/**
 * Header names per forge (checked in the forges' sources and docs):
 * - Gitea (services/webhook/deliver.go): X-Gitea-Signature = hex HMAC-SHA256 of the body,
 *   X-Gitea-Delivery (a UUID), X-Gitea-Event (issue_comment, pull_request, issues …) and
 *   X-Gitea-Event-Type (pull_request_comment, pull_request_label …). Forgejo sends the same
 *   and X-Forgejo-* twins. Both also send GitHub-style headers; prbot goes by forge.kind.
 * - GitHub: X-Hub-Signature-256 = "sha256=" + hex HMAC-SHA256, X-GitHub-Delivery, X-GitHub-Event.
 */
export function deliveryOf(kind: string, headers: Headers): Delivery {
  if (kind === 'github') {
    return {
      signature: header(headers, 'x-hub-signature-256'),
      id: header(headers, 'x-github-delivery'),
      event: header(headers, 'x-github-event'),
      eventType: '',
      prefix: 'sha256=',
    };
  }
  return {
    signature: header(headers, 'x-gitea-signature', 'x-forgejo-signature'),
    id: header(headers, 'x-gitea-delivery', 'x-forgejo-delivery'),
    event: header(headers, 'x-gitea-event', 'x-forgejo-event'),
    eventType: header(headers, 'x-gitea-event-type', 'x-forgejo-event-type') ?? '',
    prefix: '',
  };
}

/** Constant-time check of the forge's HMAC-SHA256 over the raw body, exactly as received. */
export function signatureValid(raw: Buffer, signature: string | undefined, secret: string, prefix = ''): boolean {
  if (!signature || !signature.startsWith(prefix)) return false;
  const hex = signature.slice(prefix.length).trim().toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) return false;
  const want = createHmac('sha256', secret).update(raw).digest();
  return timingSafeEqual(want, Buffer.from(hex, 'hex'));
}
