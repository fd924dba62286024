export { createDashboard } from './server.ts';
