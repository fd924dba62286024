import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { existsSync, statSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from '@prbot/test-support';
import { createDashboard } from '../src/server.ts';
import { seed } from './seed.ts';

// Debian's chromium (.ci/run installs it); the flags keep it off this machine's closed network.
const CHROMIUM = process.env.PRBOT_CHROMIUM ?? '/usr/bin/chromium';

let h: Harness;
let server: Server;
let browser: Browser;
let url: string;

beforeAll(async () => {
  h = await createHarness();
  await seed(h.rt);
  server = createDashboard(h.rt, { auth: null, readOnly: false, secureCookies: false }).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--headless',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
});
afterAll(async () => {
  await browser?.close();
  server?.close();
  await h.cleanup();
});

describe('dashboard in a real browser', () => {
  it('shows the seeded figures, pauses the test queue, lists jobs in Bull Board', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(url);
    expect(await page.getByTestId('budget-calls').textContent()).toBe('3 / 20 calls');
    expect(await page.getByTestId('budget-tokens').textContent()).toBe('2100 / 160000 tokens');
    expect(await page.locator('[data-testid=outcomes-today] [data-outcome=ok] b').textContent()).toBe('2');
    expect(await page.locator('[data-testid=outcomes-today] [data-outcome=tests_failed] b').textContent()).toBe('3');
    expect(await page.getByTestId('failing').textContent()).toContain('Add reverse');

    const shot = path.join(await mkdtemp(path.join(tmpdir(), 'prbot-shot-')), 'overview.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(existsSync(shot) && statSync(shot).size).toBeGreaterThan(10_000);

    await page.getByTestId('pause-test').click();
    await page.waitForURL(url + '/');
    expect(await h.rt.queues.test.isPaused()).toBe(true);
    expect(await h.rt.queues.propose.isPaused()).toBe(false);
    expect(await page.locator('tr[data-queue=test] td').nth(1).textContent()).toBe('paused');
    await page.getByTestId('resume-test').click();
    await page.waitForURL(url + '/');
    expect(await h.rt.queues.test.isPaused()).toBe(false);

    await page.goto(`${url}/queues/queue/test?status=waiting`);
    await page.getByText('cseedjob0000001-test').first().waitFor({ timeout: 15_000 });
    await page.close();
  });
});
