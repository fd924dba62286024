export { classify, proposalRefusal, resolveProposal } from './changes.ts';
export { botCommitSpec, buildCommit, commitGuardDefence, rebuildCommit } from './commit.ts';
export { listTree, readBlobs } from './context/objects.ts';
export { buildRepoContext, type RepoContext } from './context/repo-context.ts';
export { SnapshotCache } from './context/snapshot.ts';
export { diskUsage } from './disk-usage.ts';
export { git, gitDefences } from './git.ts';
export { type GuardContext } from './guardrails.ts';
export { Mirror } from './mirror.ts';
export {
  parsePrd,
  parsePrdWithWarnings,
  PRD_BYTE_CAP,
  PRD_GAP_CAP,
  PRD_NESTING_CAP,
  PRD_PARSE_VERSION,
  type ParsedPrd,
  PrdUnreadable,
  prdDefences,
  readPrd,
  readPrdBlob,
} from './prd.ts';
export { shrinkRefusal } from './shrink.ts';
export { shadowDirs, shadowRefusal, testGuardRefusal, truncationRefusal } from './test-guard.ts';
export { rebuiltChangeSet, stalenessOf } from './staleness.ts';
export { testSurface } from './test-surface.ts';
