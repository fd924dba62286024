import { CycleEnded, TransientError } from '@prbot/core';
import type { RepoPermission } from './types.ts';

/**
 * A forge said no to one call, for good (401/403/404/410/422 …): what happened, with the status
 * and the forge's own words. The pipeline decides what it means for a cycle (the stage runner
 * ends it pr_failed); callers for whom the call is optional (labels) catch it and warn.
 */
export class ForgeRefused extends Error {
  override readonly name = 'ForgeRefused';
  constructor(
    readonly reason: string,
    readonly status: number,
    readonly forgeMessage: string,
  ) {
    super(reason);
  }
}

/** Both forges' permission words onto four: GitHub's maintain is write, triage is read; Gitea's owner is admin. */
export function normalisePermission(p: string | undefined | null): RepoPermission {
  switch ((p ?? '').toLowerCase()) {
    case 'admin':
    case 'owner':
      return 'admin';
    case 'write':
    case 'maintain':
      return 'write';
    case 'read':
    case 'triage':
      return 'read';
    default:
      return 'none';
  }
}

/** The words a person reads for a failed forge call (a CycleEnded's reason, not its outcome prefix). */
export function reasonOf(err: unknown): string {
  return err instanceof CycleEnded || err instanceof ForgeRefused ? err.reason : (err as Error).message;
}

/** What an operator should change after a refused doctor check, when the refusal says. */
export function fixFor(err: unknown, tokenEnv: string): string | undefined {
  if (err instanceof ForgeRefused) {
    if (err.status === 401) return `put a valid, unexpired token in ${tokenEnv} (it may have expired or been revoked)`;
    if (err.status === 403) {
      const scopes = /required scope\(s\)[^[]*\[([^\]]*)\]/.exec(err.forgeMessage)?.[1];
      return scopes
        ? `give the token the scope ${scopes.split(/[ ,]+/).join(' or ')}`
        : 'give the token the permission named above';
    }
    if (err.status === 404) return 'check forge.owner, forge.repo and that the token can see the repository';
  }
  if (err instanceof TransientError) return 'check forge.baseUrl/apiUrl and that the forge is reachable';
  return undefined;
}
