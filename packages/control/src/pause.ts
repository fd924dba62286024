import { STAGES, type QueueName, type Runtime } from '@prbot/pipeline';

/**
 * Pauses or resumes queues (default: the four stages): jobs already running finish, waiting ones
 * wait. The CLI's pause/resume and the dashboard issue's pause box both come here.
 */
export async function setPaused(rt: Runtime, paused: boolean, queues: readonly QueueName[] = STAGES): Promise<void> {
  for (const q of queues) {
    if (paused) await rt.queues[q].pause();
    else await rt.queues[q].resume();
  }
}

/** The queues that are paused now, in QUEUE_NAMES order. */
export async function pausedQueues(rt: Runtime, queues: readonly QueueName[] = STAGES): Promise<QueueName[]> {
  const out: QueueName[] = [];
  for (const q of queues) if (await rt.queues[q].isPaused()) out.push(q);
  return out;
}

/** `pause --repo NAME`: produce makes no new cycles for it; cycles in flight finish. */
export async function setRepoPaused(view: Runtime, paused: boolean): Promise<void> {
  if (paused) await view.redis.set(view.keys.repoPaused(), String(view.clock()));
  else await view.redis.del(view.keys.repoPaused());
}

export async function repoPaused(view: Runtime): Promise<boolean> {
  return (await view.redis.exists(view.keys.repoPaused())) === 1;
}
