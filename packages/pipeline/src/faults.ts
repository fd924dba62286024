/**
 * Named fault points for the reliability suite: the stage runner calls `faultPoint(name)` at the
 * moments where a crash is most expensive, and a test makes the crash happen exactly there.
 *
 * - `PRBOT_FAULT=kill-<point>[,kill-<point>…]` in a worker's environment makes that process
 *   SIGKILL itself the first time it reaches the point (so the next worker, started without
 *   the variable, finds the mess a real crash leaves);
 * - `onFault(point, fn)` runs `fn` at the point, in-process (tests that hold a job still while
 *   they break Redis).
 * - `PRBOT_FAULT=no-<defence>` switches one defence off (`defenceOff`), so a reliability test can
 *   run its fault once more and show the harm that defence prevents (its positive control).
 * Unset, a point costs one environment lookup. Production never sets it; job data, PRDs, model
 * output and repositories cannot reach a process's environment.
 */
const FAULT_POINTS = [
  /** A stage job passed the ledger check and is about to run its steps. */
  'stage-start',
  /** propose: the model's answer is in the process and not yet saved in the job. */
  'before-save',
  /** propose: the model answered and the answer was saved; nothing handed over yet. */
  'after-answer',
  /** The next stage's job was added; this job has not completed yet. */
  'after-handover',
  /** The cycle's outcome was recorded; this job has not completed (acked) yet. */
  'after-record',
] as const;
export type FaultPoint = (typeof FAULT_POINTS)[number];

/** Defences a positive control may switch off, each named for what it prevents. */
const DEFENCES = [
  /** propose re-uses the answer an earlier attempt saved in its job (no second model call). */
  'saved-answer',
  /** A stage job reads the outcome ledger first: an ended or handed-over cycle's job does nothing. */
  'ledger',
  /** Writes Redis refuses (OOM, a restart) are waited out, and the job delayed, not failed. */
  'redis-retry',
  /** Workers, produce and every enqueue refuse a Redis whose maxmemory-policy may evict keys. */
  'policy-check',
  /** Workers notice a Redis that lost its data (the epoch key) and name it: RedisDataLostError. */
  'data-epoch',
  /** An enqueue Redis refused gives back the gap locks of the jobs surely absent. */
  'lock-giveback',
  /**
   * The repository a single-`repo:` deployment served keeps the unscoped key layout and gap ids
   * after the upgrade to many repositories (legacy-repo.ts); off, it is scoped like any other.
   */
  'legacy-layout',
  /**
   * Fair shares: each cycle's place in its repository's line is its priority in every queue, so
   * repositories take turns; off, the queues are first come first served (one backlog first).
   */
  'fair-order',
  /** A stage's job is added under the cycle's hand-over id: a re-run's second add adds nothing. */
  'handover-id',
  /** A cycle's outcome is recorded once: a second record of the cycle changes nothing. */
  'record-once',
  /**
   * Discovery drains a repository the forge no longer lists or marks: produce enqueues nothing
   * for it; off, the stored set keeps it served.
   */
  'discover-drain',
  /** A Cluster command rides out MOVED/ASK, CLUSTERDOWN, TRYAGAIN and a failover inside itself. */
  'redirection-retry',
] as const;
type Defence = (typeof DEFENCES)[number];

const faultList = (): string[] => (process.env.PRBOT_FAULT ?? '').split(',').map((s) => s.trim());

/** True when the test-only `PRBOT_FAULT=no-<defence>` switched this defence off (never in production). */
export function defenceOff(defence: Defence): boolean {
  return process.env.PRBOT_FAULT !== undefined && faultList().includes(`no-${defence}`);
}

type Hook = (info: FaultInfo) => void | Promise<void>;
export interface FaultInfo {
  stage: string;
  cycleId: string;
}

const hooks = new Map<FaultPoint, Hook[]>();

/** Registers an in-process hook; returns a function that removes it. */
export function onFault(point: FaultPoint, fn: Hook): () => void {
  hooks.set(point, [...(hooks.get(point) ?? []), fn]);
  return () =>
    hooks.set(
      point,
      (hooks.get(point) ?? []).filter((h) => h !== fn),
    );
}

export async function faultPoint(point: FaultPoint, info: FaultInfo): Promise<void> {
  if (process.env.PRBOT_FAULT && faultList().includes(`kill-${point}`)) {
    // Say where, so a test can assert the crash happened at the point it meant.
    process.stderr.write(`prbot fault: SIGKILL at ${point} (${info.stage} ${info.cycleId})\n`);
    process.kill(process.pid, 'SIGKILL');
    await new Promise(() => {}); // the signal lands before anything else runs
  }
  for (const h of hooks.get(point) ?? []) await h(info);
}
