import { Cluster } from 'ioredis';
import type { Logger } from '@prbot/core';
import type { RedisClient } from './redis.ts';

/**
 * Confirms prbot's last writes on a replica (Redis WAIT) before they count as done.
 *
 * Replication is asynchronous: a master acknowledges a write, dies before its replica has it,
 * and the promoted replica never saw it. For most of prbot's state that is harmless (a job runs
 * again; job ids, the ledger and PR lookup by branch absorb it), but an outcome record, a budget
 * charge or the PR bookkeeping lost that way is a cycle recorded twice, a charge forgotten or a PR
 * limit overshot. WAIT blocks until a replica acknowledged everything this connection wrote.
 *
 * Bounded: a replica that is down or frozen costs at most `timeoutMs` per try; callers write
 * again (their writes are idempotent) and wait again for a bounded time, then let the write stand
 * unconfirmed (logged and counted; docs/RELIABILITY.md says what that can lose). A server that
 * never had a replica (a single dev server) is not waited on at all.
 */
export interface ReplicaWait {
  /** Call before the write: the connection generation `confirm` checks against. */
  mark(): number;
  /**
   * Waits until a replica has this connection's writes so far; false when it did not in time, or
   * when the connection changed since `mark` (the write may have died with the old master).
   */
  confirm(what: string, mark: number): Promise<boolean>;
  /** Writes confirmed, left unconfirmed after the timeout, and skipped (no replica connected). */
  readonly counts: { confirmed: number; unconfirmed: number; skipped: number };
}

// INFO replication is asked at most this often per process: a replica coming or going is seen
// within it, and a busy worker does not double its round trips.
const REPLICA_CHECK_MS = 5000;

export function replicaWait(
  redis: RedisClient,
  slotKey: string,
  o: { replicas: number; timeoutMs: number },
  log?: Logger,
): ReplicaWait {
  const counts = { confirmed: 0, unconfirmed: 0, skipped: 0 };
  let known: { replicas: number; replicated: boolean; at: number } | null = null;
  // ioredis sends a command again on the new connection after a reconnect: a WAIT sent again to
  // a promoted replica answers at once for a connection that wrote nothing, and would confirm a
  // write the old master took with it. Any reconnect between the write and the answer voids it.
  let generation = 0;
  const bump = () => {
    generation++;
    known = null;
  };
  for (const ev of ['close', 'reconnecting', '+node', '-node', 'node error', '+switch-master']) redis.on(ev, bump);
  // On a Cluster a pipeline goes to the node owning `slotKey` (prbot's hash tag), over the
  // connection the writes took, which is what WAIT counts; one server or Sentinel: the connection.
  const onOwner = async (cmd: string, ...args: string[]): Promise<unknown> => {
    if (!(redis instanceof Cluster)) return redis.call(cmd, ...args);
    const res = await redis
      .pipeline()
      .exists(slotKey)
      .call(cmd, ...args)
      .exec();
    const last = res?.[1];
    if (!last) throw new Error(`${cmd} pipeline returned nothing`);
    if (last[0]) throw last[0];
    return last[1];
  };
  // `replicated`: this server has (or had) replicas. A backlog exists once a replica attached and
  // on a promoted replica; a server that never had one (a dev server) is not waited on at all.
  const replication = async () => {
    if (known && Date.now() - known.at < REPLICA_CHECK_MS) return known;
    const info = String(await onOwner('INFO', 'replication'));
    const connected = Number(/^connected_slaves:(\d+)/m.exec(info)?.[1] ?? 0);
    known = { replicas: connected, replicated: connected > 0 || /^repl_backlog_active:1/m.test(info), at: Date.now() };
    return known;
  };
  const unconfirmed = (what: string, why: string, acked: number) => {
    counts.unconfirmed++;
    known = null;
    log?.warn(
      { what, acked, wanted: o.replicas, timeoutMs: o.timeoutMs, unconfirmed: counts.unconfirmed },
      `${what} is not confirmed on a replica (${why}): written again or waited for`,
    );
    return false;
  };
  return {
    counts,
    mark: () => generation,
    async confirm(what, mark) {
      if (o.replicas === 0) return true;
      if (generation !== mark) return unconfirmed(what, 'the connection changed since the write', 0);
      const { replicas: have, replicated } = await replication();
      if (!replicated) {
        counts.skipped++;
        return true;
      }
      // Replicas were there and none is now (cut off, restarting): nothing can confirm the write.
      if (have === 0) return unconfirmed(what, 'no replica is connected', 0);
      const acked = Number(await onOwner('WAIT', String(Math.min(o.replicas, have)), String(o.timeoutMs)));
      if (generation !== mark) return unconfirmed(what, 'the connection changed during the wait', acked);
      if (acked >= Math.min(o.replicas, have)) {
        counts.confirmed++;
        return true;
      }
      return unconfirmed(what, `no replica acknowledged it within ${o.timeoutMs} ms`, acked);
    },
  };
}

/** How long a write is done again while no replica confirms it, before it stands unconfirmed. */
const REPLICA_CONFIRM_MS = 60_000;

/**
 * Runs an idempotent write until a replica confirms it (writing it again each time: a write the
 * old master took with it is done anew on the new one), for at most `maxMs`; then it stands
 * unconfirmed (logged by `confirm`). Redis errors go to the caller, whose retry runs it again.
 */
export async function writeConfirmed<T>(
  rw: ReplicaWait | undefined,
  what: string,
  write: () => Promise<T>,
  maxMs = REPLICA_CONFIRM_MS,
): Promise<T> {
  const deadline = Date.now() + maxMs;
  for (let wait = 100; ; wait = Math.min(wait * 2, 2000)) {
    const mark = rw?.mark() ?? 0;
    const r = await write();
    if (!rw || (await rw.confirm(what, mark)) || Date.now() + wait > deadline) return r;
    await new Promise((res) => setTimeout(res, wait));
  }
}
