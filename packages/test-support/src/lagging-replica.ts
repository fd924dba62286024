import { Redis } from 'ioredis';

/**
 * Makes a master's replicas lag for real: freezes them (SIGSTOP) and cuts their replication
 * links (CLIENT KILL TYPE replica on the master), so what the master takes from now on stays in
 * its backlog only. Frozen alone, a replica on the same machine lags nothing: the stream waits
 * in its socket buffer and is read on SIGCONT. `resume` thaws them (they reconnect by themselves).
 */
export async function lagReplicas(masterUrl: string, replicaPids: number[]): Promise<{ resume(): void }> {
  for (const pid of replicaPids) process.kill(pid, 'SIGSTOP');
  const m = new Redis(masterUrl, { maxRetriesPerRequest: 1 });
  try {
    await m.call('CLIENT', 'KILL', 'TYPE', 'replica');
  } finally {
    m.disconnect();
  }
  return { resume: () => replicaPids.forEach((pid) => process.kill(pid, 'SIGCONT')) };
}
