import {
  botCommitSpec,
  buildCommit,
  proposalRefusal,
  resolveProposal,
  shadowDirs,
  shadowRefusal,
  shrinkRefusal,
  testGuardRefusal,
  testSurface,
  truncationRefusal,
} from '@prbot/repo';
import { countActions, CycleEnded } from '@prbot/core';
import { guardContext } from '@prbot/pipeline';
import type { StageContext } from '@prbot/pipeline';

/** apply: resolve edits and classify against the base tree → shrink guard → all NOOP ends the cycle → build the bot commit. */
export async function apply(s: StageContext<'apply'>): Promise<void> {
  const { rt, data } = s;
  // Guardrails are enforced where the commit is built, not only where the proposal is scored.
  const refusal = proposalRefusal(data.proposal, guardContext(rt), rt.cfg.guardrails);
  if (refusal) throw new CycleEnded('apply_failed', `guardrail: ${refusal}`);

  // 1. ADD / UPDATE / NOOP from the base commit's tree, edits resolved against the base blobs;
  //    model confusion (and an edit that does not match exactly once) ends the cycle.
  await rt.mirror.ensureCommit(data.baseCommit);
  const { changes, base } = await resolveProposal(rt.mirror, data.baseCommit, data.proposal);
  const n = countActions(changes);
  await s.step(40, `classified: ${n.ADD} ADD, ${n.UPDATE} UPDATE, ${n.NOOP} NOOP`);

  // The shrink guard runs here, the one place that holds both the base and the final content
  // of every file, whichever form (whole or edits) the model answered in.
  const shrink = shrinkRefusal(changes, base, data.gap.text, rt.cfg.guardrails.maxShrink);
  if (shrink) throw new CycleEnded('proposal_rejected', `shrink guard: ${shrink}`);
  // A whole file cut off partway (the model's output limit) reads as a large removal at the end.
  const wholeContent = new Set(data.proposal.files.filter((f) => 'content' in f).map((f) => f.path));
  const cut = truncationRefusal(changes, base, wholeContent);
  if (cut) throw new CycleEnded('proposal_rejected', `truncated answer: ${cut}`);
  // The test guard: the suite that judges the change is not the change's to weaken (core test-guard.ts).
  const t = rt.cfg.tests;
  // What the commands reach, followed through the base tree's scripts, Makefile, tox and nox files.
  const surface = await testSurface([...t.setup, ...t.commands], (f) => rt.mirror.readFile(data.baseCommit, f));
  const weakened =
    testGuardRefusal(changes, base, {
      commands: [...t.setup, ...t.commands],
      cacheDirs: t.cacheDirs,
      maxShrink: rt.cfg.guardrails.maxShrink,
      surface,
    }) ?? shadowRefusal(changes, await rt.mirror.listDirs(data.baseCommit, shadowDirs(changes)));
  if (weakened) throw new CycleEnded('proposal_rejected', `test guard: ${weakened}`);

  // 2. All NOOP: nothing to test or propose.
  if (n.ADD + n.UPDATE === 0)
    throw new CycleEnded('cycle_noop', `every proposed file already has that content (${n.NOOP} NOOP)`);
  const botCommit = await buildCommit(
    rt.mirror,
    botCommitSpec(data, changes, rt.cfg.bot, { ctx: guardContext(rt), limits: rt.cfg.guardrails }),
  );
  await s.step(90, `built bot commit ${botCommit.slice(0, 12)}`);

  await s.handOver('test', { ...data, changes, botCommit });
  await s.step(100, 'handed over to test');
}
