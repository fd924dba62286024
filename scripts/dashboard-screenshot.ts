/**
 * Writes docs/dashboard.png: the overview page over the data `pnpm demo` left in Redis.
 * Run `pnpm demo --repos 2` first (two repositories on one dashboard), then
 * `pnpm tsx scripts/dashboard-screenshot.ts`.
 */
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { openRuntime, waitReady } from '@prbot/pipeline';
import { loadConfig } from '@prbot/config';
import { createDashboard } from '@prbot/dashboard';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cfg = loadConfig(path.join(root, 'data', 'demo', 'prbot.config.json'), process.env);
const rt = await openRuntime(cfg, { role: 'client' });
await waitReady(rt.redis, cfg.redis.url);
const server = createDashboard(rt, { auth: null, readOnly: false, secureCookies: false }).listen(0, '127.0.0.1');
await new Promise((r) => server.once('listening', r));
const browser = await chromium.launch({
  executablePath: process.env.PRBOT_CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking'],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
await page.screenshot({ path: path.join(root, 'docs', 'dashboard.png'), fullPage: true });
await browser.close();
server.close();
await rt.close();
console.log('wrote docs/dashboard.png');
