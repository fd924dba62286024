export { createDashboard, defaultWebhookActions, redactJobData, type DashboardOptions } from './server.ts';
export { assertSafeBind, authFromEnv } from './security.ts';
export { overview, stats } from './overview.ts';
export { webhookRouter, signatureValid, type WebhookActions, type ReviseInput, type ReviseResult, type ReviseTrigger } from './webhooks.ts';
export { giteaEvent, githubEvent, type WebhookEvent } from './webhook-events.ts';
