import type { Runtime } from '@prbot/pipeline';
import { settleClosedPr, type ClosedPrEvent, type ClosedPrResult } from './bot-prs.ts';
import { upkeepOnBasePush } from './upkeep.ts';
import {
  dashboardIssueNumber,
  updateDashboardIssue,
  updateDashboardIssueQuietly,
  type DashboardIssueReport,
} from './dashboard-issue.ts';

export interface WebhookBookkeepingOptions {
  /**
   * Whether a login has write access to the repository (the forge's collaborator permission).
   * Without it, an edit of the dashboard issue is judged as at produce: only people with write
   * access can edit an issue prbot opened, on Gitea/Forgejo and GitHub alike.
   */
  canWrite?: (login: string) => Promise<boolean>;
}

/**
 * What the webhook route does besides revise cycles: a closed or merged bot PR is settled at once
 * (the same bookkeeping produce does, bot-prs.ts) and the dashboard issue shows it; an edit of the
 * dashboard issue has its ticked boxes honoured.
 */
export function webhookBookkeeping(rt: Runtime, o: WebhookBookkeepingOptions = {}) {
  return {
    async prClosed(e: ClosedPrEvent): Promise<ClosedPrResult & { dashboardIssue?: DashboardIssueReport }> {
      const r = await settleClosedPr(rt, e);
      if (!r.settled) return r;
      rt.log.info({ gap: r.gapId, verdict: r.verdict, pr: e.url }, 'bot PR closed: settled from a webhook');
      return { ...r, dashboardIssue: await updateDashboardIssueQuietly(rt, { via: 'webhook' }) };
    },
    /** A push to the base branch: upkeep of the open bot PRs at once (issue 25). */
    basePushed(e: { ref: string }) {
      return upkeepOnBasePush(rt, e.ref);
    },
    async dashboardIssueEdited(e: { issue: number; editor: string }): Promise<DashboardIssueReport> {
      if (!rt.cfg.dashboardIssue.enabled) return { updated: false, reason: 'dashboardIssue.enabled is false' };
      const n = await dashboardIssueNumber(rt);
      if (n !== e.issue) return { updated: false, reason: `issue #${e.issue} is not the dashboard issue` };
      const canWrite = o.canWrite ? await o.canWrite(e.editor) : true;
      return updateDashboardIssue(rt, { via: 'webhook', editor: { login: e.editor, canWrite } });
    },
  };
}
