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

export type Headers = Record<string, string | string[] | undefined>;

export function header(headers: Headers, ...names: string[]): string | undefined {
  for (const n of names) {
    const v = headers[n];
    if (typeof v === 'string' && v !== '') return v;
  }
  return undefined;
}

/** Constant-time check of the forge's HMAC-SHA256 over the raw body, exactly as received. */
export function signatureValid(raw: Buffer, signature: string | undefined, secret: string, prefix = ''): boolean {
  if (!signature || !signature.startsWith(prefix)) return false;
  const hex = signature.slice(prefix.length).trim().toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) return false;
  const want = createHmac('sha256', secret).update(raw).digest();
  return timingSafeEqual(want, Buffer.from(hex, 'hex'));
}
