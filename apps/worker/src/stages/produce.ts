import type { Job } from 'bullmq';
import { produceJobSchema, type Runtime } from '@prbot/pipeline';
import type { Policy } from '@prbot/policy';
import { produce } from '@prbot/control';

/** Scheduled producing: the job scheduler adds a `produce` job; any worker runs `pnpm produce`'s logic. */
export function produceProcessor(rt: Runtime, policy: Policy) {
  return async (job: Job) => {
    const { dryRun } = produceJobSchema.parse(job.data);
    const report = await produce(rt, policy, { dryRun });
    for (const l of report.lines) await job.log(`${l.action} ${l.gap.id} ${l.gap.text} (${l.why})`);
    return {
      outcome: report.outcome,
      reason: report.reason,
      enqueued: report.lines.filter((l) => l.action === 'enqueued').length,
    };
  };
}
