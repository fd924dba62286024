import type { Job } from 'bullmq';
import { produceJobSchema, type Runtime } from '@prbot/pipeline';
import type { Policy } from '@prbot/policy';
import { produce, produceRepos } from '@prbot/control';

/** Scheduled producing: the job scheduler adds a `produce` job; any worker runs `pnpm produce`'s logic. */
export function produceProcessor(rt: Runtime, policy: Policy) {
  return async (job: Job) => {
    const { dryRun } = produceJobSchema.parse(job.data);
    if (rt.cfg.repositories.length === 1 && !rt.cfg.discover) {
      const report = await produce(rt, policy, { dryRun });
      for (const l of report.lines) await job.log(`${l.action} ${l.gap.id} ${l.gap.text} (${l.why})`);
      return {
        outcome: report.outcome,
        reason: report.reason,
        enqueued: report.lines.filter((l) => l.action === 'enqueued').length,
      };
    }
    // Every repository in turn; one's failure is its own line and the others go on.
    const runs = await produceRepos(rt, policy, { dryRun });
    for (const r of runs) {
      if ('error' in r) await job.log(`repo ${r.repo}: produce failed: ${r.error}`);
      else if (r.drained) await job.log(`repo ${r.repo}: ${r.report.reason}`);
      else
        for (const l of r.report.lines)
          await job.log(`repo ${r.repo}: ${l.action} ${l.gap.id} ${l.gap.text} (${l.why})`);
    }
    return {
      repos: runs.map((r) =>
        'error' in r
          ? { repo: r.repo, error: r.error }
          : r.drained
            ? { repo: r.repo, drained: true }
            : {
                repo: r.repo,
                outcome: r.report.outcome,
                reason: r.report.reason,
                enqueued: r.report.lines.filter((l) => l.action === 'enqueued').length,
              },
      ),
    };
  };
}
