import { symlink } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, expect, it } from 'vitest';
import { OUTCOMES, utcDay } from '@prbot/core';
import { defaultPolicy } from '@prbot/policy';
import { produce } from '@prbot/control';
import { waitForOutcomes } from '@prbot/worker';
import { gapNumber } from './answers.ts';
import { hostileAnswers } from './hostile-proposals.ts';
import {
  closeWorlds,
  recordRow,
  reliabilityWorld,
  scanSecrets,
  spawnWorker,
  stopChild,
  type WorkerChild,
} from './support.ts';

// Every traversal spelling in both path shapes (100 answers), then ~9 of each other hostile shape.
const COUNT = 300;
const ESCAPE = `prbot-escape-${Date.now().toString(36)}`;
let worker: WorkerChild;

afterAll(async () => {
  await stopChild(worker).catch(() => {});
  await closeWorlds();
});

it(`${COUNT} hostile or malformed proposals: each ends in a named outcome, nothing is written outside the worktree, no worker crashes`, async () => {
  const answers = hostileAnswers(ESCAPE, COUNT);
  const { h } = await reliabilityWorld({
    gaps: Array.from({ length: COUNT }, (_, i) => `Hostile ${i} answer`),
    script: (req) => ({ content: answers[gapNumber(req)] ?? 'null' }),
    // A symlink in the base tree pointing outside.
    repo: (dir) => symlink('/tmp', path.join(dir, 'link-out')),
    config: {
      budget: { callsPerDay: 10_000, tokensPerDay: 1_000_000_000 },
      policy: { maxGapsPerRun: COUNT },
      forge: { maxOpen: 10_000, maxPerHour: 10_000 },
      queues: { propose: { concurrency: 16 }, apply: { concurrency: 8 }, test: { concurrency: 2 } },
      tests: { commands: [['node', '-e', '0']] },
      log: { level: 'warn' },
    },
  });
  worker = spawnWorker(h.configFile, 'propose,apply,test,pr,events');
  const ids = (await produce(h.rt, defaultPolicy)).lines.map((l) => l.cycleId!);
  expect(ids).toHaveLength(COUNT);
  const records = await waitForOutcomes(h.rt, ids, 240_000);

  const named = records.filter((r) => (OUTCOMES as readonly string[]).includes(r.outcome)).length;
  const stats = await h.rt.redis.hgetall(h.rt.keys.stats(utcDay(Date.now())));
  // Nothing named ESCAPE anywhere outside a slot's work tree: not in /tmp, not beside the worktrees
  // (their git dirs, home and tmp), not in the repos. Inside the work tree a spelling that is only
  // odd, not a traversal (`%2e%2e/…`), is a legal file of the proposal, left there by the last cycle.
  const found = await execa('find', ['/tmp', h.dir, '-name', `*${ESCAPE}*`], { reject: false });
  const inWorkTree = new RegExp(`^${h.dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/work/slots/[^/]+/slot-[0-9]+/`);
  const escaped = found.stdout
    .split('\n')
    .filter(Boolean)
    .filter((p) => !inWorkTree.test(p));
  const alive = worker.child.exitCode === null;
  const hits = await scanSecrets(h, h.rt, [worker.output()], 'hostile proposals');
  recordRow({
    fault: `hostile model output: ${COUNT} generated proposals (traversal, absolute/UNC, symlinks, control and look-alike characters, huge, thousands of files, wrong types, deep nesting, forbidden paths)`,
    injections: COUNT,
    inFlight: COUNT,
    lost: COUNT - records.length,
    duplicates: Math.max(0, Object.values(stats).reduce((a, b) => a + Number(b), 0) - COUNT),
    notes: `outcomes: ${Object.entries(stats)
      .sort((a, b) => Number(b[1]) - Number(a[1]))
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}; files outside the worktree: ${escaped.length}; worker ${alive ? 'still running' : 'exited'}`,
  });
  expect(named).toBe(COUNT);
  expect(escaped).toEqual([]);
  expect(alive).toBe(true);
  expect(hits).toBe(0);
}, 400_000);
