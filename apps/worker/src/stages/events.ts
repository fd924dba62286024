import { cycleRecordSchema } from '@prbot/core';
import { postEvent, type Runtime } from '@prbot/pipeline';
import type { Job } from 'bullmq';

/** events: POSTs each cycle record to the observer, when one is configured. Retried by BullMQ. */
export function eventsProcessor(rt: Runtime) {
  return async (job: Job): Promise<void> => {
    const url = rt.cfg.observer.url;
    if (url) await postEvent(url, cycleRecordSchema.parse(job.data), rt.cfg.observer.timeoutMs);
  };
}
