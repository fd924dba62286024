import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { setupDefence } from '@prbot/sandbox';
import { cleanupDirs, planRig } from './support.ts';

/**
 * Setup skipped when its inputs did not change (tests.setupInputs): a slot whose last successful
 * setup had the same lockfiles and commands, and whose node_modules is still there, runs only the
 * tests; a changed lockfile runs setup again. Real sandbox, real git, real processes.
 */
afterAll(cleanupDirs);

const LOCK = (v: number) =>
  JSON.stringify({ name: 'fx', lockfileVersion: 3, packages: { '': { version: `1.0.${v}` } } });
// What "setup" installs: one line more in node_modules/.installs per run, counted from the host.
const SETUP = [
  'sh',
  '-c',
  'mkdir -p node_modules/dep && echo run >> node_modules/.installs && echo ok > node_modules/dep/index.js',
];
const TEST = ['sh', '-c', 'test -f node_modules/dep/index.js && node index.js'];
const skipped = /^setup skipped \(inputs unchanged: [0-9a-f]{16}\)$/m;

async function rig() {
  const r = await planRig({
    'package.json': JSON.stringify({ name: 'fx', version: '1.0.0' }),
    'package-lock.json': LOCK(0),
    'index.js': 'console.log("v0")\n',
  });
  const installs = (dir: string) =>
    existsSync(path.join(dir, 'node_modules/.installs'))
      ? readFileSync(path.join(dir, 'node_modules/.installs'), 'utf8').trim().split('\n').length
      : 0;
  return { ...r, installs };
}

describe('setup skipped when its inputs did not change', () => {
  it('an unchanged lockfile skips setup (the record says so) and the installed deps survive the reset; a changed lockfile runs it', async () => {
    const r = await rig();
    const tests = { setup: [SETUP], commands: [TEST], timeoutMs: 30_000 };
    const first = await r.cycle(await r.head(), tests);
    expect(first.failure).toBeNull();
    expect(first.results[0]!.tail).not.toMatch(skipped);
    expect(r.installs(first.slot.dir)).toBe(1);

    // A change to a file that is no setup input: setup is not run, the tests still find node_modules.
    const code = await r.commit({ 'index.js': 'console.log("v1")\n' });
    const second = await r.cycle(code, tests);
    expect(second.failure).toBeNull();
    expect(second.results.map((x) => [x.phase, x.ok])).toEqual([
      ['setup', true],
      ['test', true],
    ]);
    expect(second.results[0]!.tail).toMatch(skipped);
    expect(second.results[0]!.durationMs).toBe(0);
    expect(second.results[0]!.skipped).toMatch(skipped);
    expect(second.lines.join('\n')).toMatch(/\[prbot\] setup skipped \(inputs unchanged: [0-9a-f]{16}\)/);
    expect(second.results[1]!.tail).toContain('v1');
    expect(r.installs(second.slot.dir)).toBe(1);

    // The lockfile changes: setup runs.
    const lock = await r.commit({ 'package-lock.json': LOCK(1) });
    const third = await r.cycle(lock, tests);
    expect(third.failure).toBeNull();
    expect(third.results[0]!.tail).not.toMatch(skipped);
    expect(r.installs(third.slot.dir)).toBe(2);

    // The setup commands themselves are an input too.
    const fourth = await r.cycle(lock, { ...tests, setup: [SETUP, ['true']] });
    expect(fourth.results[0]!.tail).not.toMatch(skipped);
    expect(r.installs(fourth.slot.dir)).toBe(3);
  });

  it('control: with the result gone (test code removed node_modules) the same inputs run setup again', async () => {
    const r = await rig();
    const tests = { setup: [SETUP], commands: [TEST], timeoutMs: 30_000 };
    await r.cycle(await r.head(), tests);
    const wipe = await r.cycle(await r.head(), { ...tests, commands: [['sh', '-c', 'rm -rf node_modules']] });
    expect(wipe.results[0]!.tail).toMatch(skipped); // same inputs: skipped this time …
    const after = await r.cycle(await r.head(), tests);
    expect(after.failure).toBeNull();
    expect(after.results[0]!.tail).not.toMatch(skipped); // … but not once the result is gone
    expect(r.installs(after.slot.dir)).toBe(1); // node_modules was made anew
  });

  it('control: a marker forged in the work tree does not make setup skip; the real one is out of reach', async () => {
    const r = await rig();
    const tests = { setup: [SETUP], commands: [TEST], timeoutMs: 30_000 };
    const a = await r.pool.acquire();
    const b = await r.pool.acquire();
    const base = await r.head();
    try {
      await r.cycle(base, tests, a);
      // The marker the next commit would earn, made for real on another slot: what an attacker
      // who knows the scheme (it is public) would write.
      const lock = await r.commit({ 'package-lock.json': LOCK(7) });
      await r.cycle(lock, tests, b);
      const earned = readFileSync(`${b.dir}.setup`, 'utf8');
      const marker = `${a.dir}.setup`;
      const before = readFileSync(marker, 'utf8');
      // Test code on slot a writes it wherever it can: the work tree (under the marker's own
      // name and others), node_modules (kept between cycles), $HOME, and the marker's host path
      // and its sandbox neighbour, which it cannot reach.
      const places = ['.setup', 'slot-0.setup', 'node_modules/.prbot-setup', '../slot-0.setup', '$HOME/.setup', marker];
      const forge = [
        'sh',
        '-c',
        `for p in ${places.map((p) => `"${p}"`).join(' ')}; do printf '%s' '${earned}' > "$p" 2>/dev/null; done; cat node_modules/.prbot-setup`,
      ];
      const planted = await r.cycle(base, { ...tests, commands: [TEST, forge] }, a);
      expect(planted.results.at(-1)!.tail).toContain(earned.slice(0, 20)); // the forgery was written
      expect(readFileSync(marker, 'utf8')).toBe(before); // the real marker is untouched
      const next = await r.cycle(lock, tests, a);
      expect(next.failure).toBeNull();
      expect(next.results[0]!.tail).not.toMatch(skipped);
      expect(r.installs(a.dir)).toBe(2);
    } finally {
      await a.release();
      await b.release();
    }
  });

  it.each([
    ['with the contents checked, the planted module undoes the skip', true],
    [
      'positive control: existence alone (the check off) skips setup and the next cycle loads the planted module',
      false,
    ],
  ])('test code that writes into node_modules after setup: %s', async (_what, checked) => {
    const r = await rig();
    const show = ['sh', '-c', 'cat node_modules/dep/index.js'];
    const plant = ['sh', '-c', 'echo planted > node_modules/dep/index.js'];
    const tests = { setup: [SETUP], commands: [show], timeoutMs: 30_000 };
    setupDefence.contentsChecked = checked;
    try {
      const first = await r.cycle(await r.head(), { ...tests, commands: [show, plant] });
      expect(first.failure).toBeNull();
      expect(first.results[1]!.tail).toContain('ok');
      // The next cycle on the same inputs (another gap, same lockfile).
      const next = await r.cycle(await r.head(), tests);
      expect(next.failure).toBeNull();
      if (checked) {
        expect(next.results[0]!.tail).not.toMatch(skipped);
        expect(next.results[1]!.tail.trim()).toBe('ok');
        expect(r.installs(next.slot.dir)).toBe(2);
      } else {
        expect(next.results[0]!.tail).toMatch(skipped);
        expect(next.results[1]!.tail.trim()).toBe('planted');
      }
    } finally {
      setupDefence.contentsChecked = true;
    }
  });

  it('a failed setup leaves no marker: the next cycle with the same inputs runs setup again', async () => {
    const r = await rig();
    const bad = { setup: [['sh', '-c', 'mkdir -p node_modules && exit 3']], commands: [TEST], timeoutMs: 30_000 };
    const first = await r.cycle(await r.head(), bad);
    expect(first.failure?.reason).toMatch(/setup command/);
    expect(existsSync(`${first.slot.dir}.setup`)).toBe(false);
    const again = await r.cycle(await r.head(), bad);
    expect(again.results[0]!.tail).not.toMatch(skipped);
  });
});
