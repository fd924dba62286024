// The upkeep outcomes (issue 25) on the dashboard: in today's counts, the recent cycles and the
// cycles API, like every other outcome.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cycleRecord, newCycleId, type Outcome } from '@prbot/core';
import { recordOutcome } from '@prbot/pipeline';
import { createHarness, type Harness } from '@prbot/test-support';
import { createDashboard } from '../src/index.ts';

let h: Harness;
let server: Server;
let url: string;

beforeAll(async () => {
  h = await createHarness();
  const now = h.rt.clock();
  const gap = { gap_id: 'gaaaaaaaaaaaa', gap_text: 'Add truncate', gap_line: 3 };
  const outcomes: [Outcome, string][] = [
    ['refreshed', 'refreshed bot/add-truncate: pushed 0123456789ab with a lease on ba9876543210'],
    ['refresh_failed', 'tests_failed: test command failed on the new base'],
    ['closed_unwanted', 'closed https://git.example.com/o/r/pulls/7: its gap is ticked off in docs/PRD.md (line 3)'],
  ];
  for (const [i, [outcome, reason]] of outcomes.entries()) {
    const at = new Date(now - 3000 + i).toISOString();
    await recordOutcome(
      h.rt.records,
      cycleRecord({
        cycle_id: newCycleId(now - 3000 + i),
        ...gap,
        outcome,
        reason,
        stage: outcome === 'closed_unwanted' ? 'produce' : 'pr',
        started_at: at,
        ended_at: at,
        dry_run: false,
        pr_url: 'https://git.example.com/o/r/pulls/7',
        kind: outcome === 'closed_unwanted' ? 'upkeep' : 'refresh',
      }),
    );
  }
  server = createDashboard(h.rt, { auth: null, readOnly: false, secureCookies: false }).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.close();
  await h.cleanup();
});

describe('upkeep outcomes on the dashboard', () => {
  it('counts and lists refreshed, refresh_failed and closed_unwanted', async () => {
    const html = await (await fetch(`${url}/`)).text();
    for (const o of ['refreshed', 'refresh_failed', 'closed_unwanted']) expect(html).toContain(`data-outcome="${o}"`);
    expect(html).toContain('its gap is ticked off in docs/PRD.md');
    const api = await (await fetch(`${url}/api/cycles?outcome=refreshed`)).json();
    expect(api.cycles.map((c: { outcome: string; kind: string }) => [c.outcome, c.kind])).toEqual([
      ['refreshed', 'refresh'],
    ]);
  });
});
