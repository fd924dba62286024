import type { Logger } from './logger.ts';
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
 * Bounded: a replica that is down or frozen costs at most `timeoutMs` per write, and the write
 * then stands unconfirmed (logged and counted; docs/RELIABILITY.md says what that can lose). A
 * server with no connected replica (a single dev server) is not waited on at all.
 */
export interface ReplicaWait {
  /** Waits until a replica has this connection's writes so far; false when it did not in time. */
  confirm(what: string): Promise<boolean>;
  /** Writes confirmed, left unconfirmed after the timeout, and skipped (no replica connected). */
  readonly counts: { confirmed: number; unconfirmed: number; skipped: number };
}

// INFO replication is asked at most this often per process: a replica coming or going is seen
// within it, and a busy worker does not double its round trips.
const REPLICA_CHECK_MS = 5000;

export function replicaWait(redis: RedisClient, slotKey: string, o: { replicas: number; timeoutMs: number }, log?: Logger): ReplicaWait {
  const counts = { confirmed: 0, unconfirmed: 0, skipped: 0 };
  let known: { replicas: number; at: number } | null = null;
  // One pipeline per call: on a Cluster it goes to the node owning `slotKey` (prbot's hash tag),
  // over the same connection the writes took, which is what WAIT counts.
  const onOwner = async (cmd: (p: ReturnType<RedisClient['pipeline']>) => void): Promise<unknown> => {
    const p = redis.pipeline().exists(slotKey);
    cmd(p);
    const res = await p.exec();
    const last = res?.[res.length - 1];
    if (!last) throw new Error('WAIT pipeline returned nothing');
    if (last[0]) throw last[0];
    return last[1];
  };
  const connectedReplicas = async (): Promise<number> => {
    if (known && Date.now() - known.at < REPLICA_CHECK_MS) return known.replicas;
    const info = String(await onOwner((p) => p.info('replication')));
    const m = /^connected_slaves:(\d+)/m.exec(info);
    known = { replicas: m ? Number(m[1]) : 0, at: Date.now() };
    return known.replicas;
  };
  return {
    counts,
    async confirm(what) {
      if (o.replicas === 0) return true;
      const have = await connectedReplicas();
      if (have === 0) {
        counts.skipped++;
        return true;
      }
      const acked = Number(await onOwner((p) => p.call('WAIT', String(Math.min(o.replicas, have)), String(o.timeoutMs))));
      if (acked >= Math.min(o.replicas, have)) {
        counts.confirmed++;
        return true;
      }
      counts.unconfirmed++;
      known = null;
      log?.warn(
        { what, acked, wanted: o.replicas, timeoutMs: o.timeoutMs, unconfirmed: counts.unconfirmed },
        `no replica confirmed ${what} within ${o.timeoutMs} ms: a failover now could lose it (docs/RELIABILITY.md)`,
      );
      return false;
    },
  };
}
