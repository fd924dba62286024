import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdir, readFile } from 'node:fs/promises';
import { QUEUE_NAMES } from '@prbot/pipeline';
import { type CycleRecord } from '@prbot/core';
import type { Harness } from '@prbot/test-support';
import { defaultPolicy } from '@prbot/policy';
import { produce } from '@prbot/control';
import { waitForOutcomes } from '@prbot/worker';
import { gapNumber } from './answers.ts';
import {
  closeWorlds,
  recordRow,
  reliabilityWorld,
  rssMb,
  scanSecrets,
  SECRET_KEY,
  spawnWorker,
  stopChild,
  type WorkerChild,
} from './support.ts';

/** Model-written code under test, one per gap: the repository's test command runs it. */
const HOSTILE: Record<number, string> = {
  0: `setInterval(() => {}, 1000); // hangs`,
  1: `const { spawn } = require('child_process');
for (let i = 0; i < 3; i++) spawn('sleep', ['1000'], { detached: true, stdio: 'ignore' }).unref();
spawn('setsid', ['sleep', '1001'], { detached: true, stdio: 'ignore' }).unref();
console.log('left children behind');`,
  2: `const chunk = 'x'.repeat(1 << 16) + '\\n';
let n = 0; // about 1 GB
function go() { while (n < 16384) { n++; if (!process.stdout.write(chunk)) return process.stdout.once('drain', go); } }
go();`,
  3: `const fs = require('fs');
const found = [];
for (const [k, v] of Object.entries(process.env)) found.push('env ' + k + '=' + v);
for (const pid of fs.readdirSync('/proc').filter((p) => /^\\d+$/.test(p))) {
  for (const f of ['environ', 'cmdline']) {
    try { found.push(pid + ' ' + f + ' ' + fs.readFileSync('/proc/' + pid + '/' + f, 'utf8').replace(/\\0/g, ' ')); } catch (e) { found.push(pid + ' ' + f + ' ' + e.code); }
  }
}
console.log(found.join('\\n'));
process.exit(1);`,
};

let h: Harness;
let worker: WorkerChild;
let records: CycleRecord[];
let maxRss = 0;

beforeAll(async () => {
  ({ h } = await reliabilityWorld({
    gaps: [0, 1, 2, 3].map((i) => `Gap ${i} hostile test code`),
    script: (req) => {
      const n = gapNumber(req);
      return {
        content: JSON.stringify({
          summary: `hostile ${n}`,
          files: [{ path: 'hostile.cjs', is_new: true, content: HOSTILE[n] ?? 'process.exit(0)' }],
        }),
      };
    },
    spawns: true,
    config: {
      tests: {
        commands: [['node', 'hostile.cjs']],
        timeoutMs: 3000,
        tailBytes: 4096,
        limits: { outputBytes: 16 * 1024 * 1024 },
      },
      queues: { test: { concurrency: 2, attempts: 1 } },
    },
  }));
  worker = spawnWorker(h.configFile, 'propose,apply,test,pr,events');
  const ids = (await produce(h.rt, defaultPolicy)).lines.map((l) => l.cycleId!);
  const sampler = setInterval(() => void rssMb(worker.child.pid!).then((m) => (maxRss = Math.max(maxRss, m))), 50);
  records = await waitForOutcomes(h.rt, ids, 120_000);
  clearInterval(sampler);
}, 180_000);

afterAll(async () => {
  await stopChild(worker).catch(() => {});
  await closeWorlds();
});

const byGap = (n: number) => records.find((r) => r.gap_text?.startsWith(`Gap ${n} `))!;

async function processesMatching(re: RegExp): Promise<string[]> {
  const out: string[] = [];
  for (const pid of (await readdir('/proc')).filter((p) => /^\d+$/.test(p))) {
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
    if (/^State:\s+Z/m.test(status)) continue;
    const cmd = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).replace(/\0/g, ' ');
    if (re.test(cmd)) out.push(`${pid} ${cmd}`);
  }
  return out;
}

describe('hostile test commands (the code under test is written by a model)', () => {
  it('a test that hangs is killed at the timeout, its whole tree with it', async () => {
    // A limit is the machine's bound, not the change's failure (docs/PROPOSALS.md, "Limits").
    expect(byGap(0)).toMatchObject({
      outcome: 'infra_failed',
      reason: expect.stringMatching(/hit tests\.limits \(time: 3000 ms/),
      limit: { kind: 'time', limit: 3000 },
    });
    expect(await processesMatching(/node hostile\.cjs/)).toEqual([]);
  });

  it('children that outlive the test (detached, setsid) are killed', async () => {
    expect(byGap(1).outcome).toBe('ok');
    expect(await processesMatching(/^sleep 100[01]/)).toEqual([]);
  });

  it('a test printing a gigabyte is killed at tests.limits.outputBytes, in bounded memory and tail', async () => {
    const r = byGap(2);
    expect(r).toMatchObject({ outcome: 'infra_failed', limit: { kind: 'output', limit: 16 * 1024 * 1024 } });
    expect(r.tests[0]!.tail).toMatch(/more than \d+ bytes of output/);
    expect(r.tests[0]!.tail.length).toBeLessThanOrEqual(4096);
    expect(maxRss).toBeLessThan(250);
  });

  it('a test hunting for secrets in its environment and /proc finds none', async () => {
    const r = byGap(3);
    expect(r.outcome).toBe('tests_failed');
    const logs = (await h.rt.queues.test.getJobLogs(`${r.cycle_id}-test`)).logs.join('\n');
    expect(logs).toMatch(/ environ /); // it did walk /proc (the sandbox's own: the worker is not in it)
    expect(logs + r.tests[0]!.tail).not.toContain(SECRET_KEY);
    const hits = await scanSecrets(h, h.rt, [worker.output()], 'hostile test commands');
    recordRow({
      fault: 'hostile test code: hang, orphaned children (setsid), 1 GB of output, secret hunting in env and /proc',
      injections: 4,
      inFlight: 4,
      lost: 4 - records.length,
      duplicates: 0,
      notes: `outcomes ${records.map((x) => x.outcome).join(', ')}; worker peak RSS ${Math.round(maxRss)} MB; no leftover process; secret hits ${hits}`,
    });
    expect(hits).toBe(0);
    void QUEUE_NAMES;
  });
});
