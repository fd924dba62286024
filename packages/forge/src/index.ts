export { prBody, type PrBodyInput } from './pr-body.ts';
export { PushRefused, PushRejected, revisionPushDefence } from './push.ts';
export { ForgeRefused, reasonOf } from './forge-errors.ts';
export { createForge, webhookReader } from './registry.ts';
export {
  isOwnReply,
  prDiff,
  reply,
  replyDefence,
  reviseBranchDefence,
  reviseBranchRefusal,
  revisePrompt,
  revisePromptDefence,
  reviseReplyText,
} from './revision.ts';
export {
  type BotPr,
  canRevise,
  type DoctorCheck,
  type Forge,
  type ForgeIssue,
  type ForgeIssues,
  hasWriteAccess,
  markerKey,
  markersOf,
  prMarkerDefence,
  type PrComment,
  type PrDetail,
  requestIdentity,
  prStateSchema,
  type ReviseForge,
  signedMarker,
} from './types.ts';
export { canUpkeep, type UpkeepForge } from './types.ts';
export { LeaseRefused } from './push.ts';
export { signatureValid } from './webhook-delivery.ts';
export { type WebhookEvent, webhookRepoDefence } from './webhook-events.ts';
export { discoverRepos } from './discover.ts';
export { type RepoDirectory } from './types.ts';
