export { createDashboard, redactJobData, type DashboardOptions } from './server.ts';
export { assertSafeBind, authFromEnv } from './security.ts';
export { overview, stats } from './overview.ts';
