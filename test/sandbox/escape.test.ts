import { createServer, type Server } from 'node:http';
import { existsSync } from 'node:fs';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer as createNetServer } from 'node:net';
import { networkInterfaces } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxDefences } from '@prbot/sandbox';
import { attack, cleanupDirs, makeDirs, PRELUDE } from './support.ts';

/** Connects to host:port from inside the command; reports whether a TCP connection was made. */
const connectTo = (host: string, port: number) => `${PRELUDE}
const s = require('net').connect({ host: ${JSON.stringify(host)}, port: ${port}, timeout: 3000 });
s.on('connect', () => { s.write('PING\\r\\n'); s.once('data', (d) => done({ connected: true, reply: String(d).slice(0, 40) })); setTimeout(() => done({ connected: true }), 1000); });
s.on('error', (e) => done({ connected: false, error: e.code }));
s.on('timeout', () => done({ connected: false, error: 'timeout' }));`;

let dashboard: Server;
let dashboardPort = 0;
let hostAddress: string;

beforeAll(async () => {
  // A stand-in for the dashboard (or model gateway, or forge) on this host, on every address.
  dashboard = createServer((_req, res) => res.end('dashboard'));
  await new Promise<void>((r) => dashboard.listen(0, '0.0.0.0', () => r()));
  dashboardPort = (dashboard.address() as { port: number }).port;
  // A non-loopback address of this very host: traffic to it never leaves the machine.
  hostAddress =
    Object.values(networkInterfaces())
      .flat()
      .find((a) => a && a.family === 'IPv4' && !a.internal)?.address ?? '';
  expect(hostAddress).not.toBe('');
});
afterAll(async () => {
  await new Promise((r) => dashboard.close(r));
  await cleanupDirs();
});

describe('network: the sandbox has none', () => {
  it('cannot reach Redis on 127.0.0.1:6379 (it could forge jobs or wipe the budget)', async () => {
    const a = await attack('bwrap', connectTo('127.0.0.1', 6379));
    expect(a.out).toMatchObject({ connected: false });
    const off = await attack('off', connectTo('127.0.0.1', 6379));
    expect(off.out).toMatchObject({ connected: true, reply: expect.stringMatching(/PONG|NOAUTH/) });
  });

  it('cannot reach the dashboard on loopback', async () => {
    const a = await attack('bwrap', connectTo('127.0.0.1', dashboardPort));
    expect(a.out).toMatchObject({ connected: false });
    expect((await attack('off', connectTo('127.0.0.1', dashboardPort))).out).toMatchObject({ connected: true });
  });

  it('cannot reach this host on a non-loopback address (no egress at all)', async () => {
    const a = await attack('bwrap', connectTo(hostAddress, dashboardPort));
    expect(a.out).toMatchObject({ connected: false });
    expect(['ENETUNREACH', 'EHOSTUNREACH', 'ECONNREFUSED', 'timeout']).toContain(a.out.error);
    expect((await attack('off', connectTo(hostAddress, dashboardPort))).out).toMatchObject({ connected: true });
  });
});

describe('local IPC: nothing shared with the host', () => {
  it('cannot connect to a unix socket in the abstract namespace of the host', async () => {
    // Abstract sockets have no file and no permission check: only the network namespace separates them.
    const name = `prbot-abstract-${Math.random().toString(36).slice(2)}`;
    const server = createNetServer((s) => s.on('error', () => {}).end('host\n'));
    await new Promise<void>((r) => server.listen(`\0${name}`, () => r()));
    const probe = `${PRELUDE}
const s = require('net').connect('\\0${name}');
s.on('connect', () => done({ connected: true }));
s.on('error', (e) => done({ connected: false, error: e.code }));`;
    try {
      const a = await attack('bwrap', probe);
      expect(a.out).toMatchObject({ connected: false });
      expect((await attack('off', probe)).out).toMatchObject({ connected: true });
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('what it writes to /dev/shm stays in the sandbox', async () => {
    const name = `prbot-shm-${Math.random().toString(36).slice(2)}`;
    const write = `${PRELUDE}
try { require('fs').writeFileSync('/dev/shm/${name}', 'x'); done({ wrote: true }); } catch (e) { done({ wrote: false, error: e.code }); }`;
    try {
      await attack('bwrap', write);
      expect(existsSync(`/dev/shm/${name}`)).toBe(false);
      await attack('off', write);
      expect(existsSync(`/dev/shm/${name}`)).toBe(true); // the host's /dev/shm, seen by every process
    } finally {
      await rm(`/dev/shm/${name}`, { force: true });
    }
  });
});

describe('processes and secrets', () => {
  it("cannot read the worker's environment through /proc/<pid>/environ", async () => {
    // A process of the worker's user with a secret in its environment (environ is fixed at exec).
    const { execa } = await import('execa');
    const worker = execa('sleep', ['601'], {
      env: { PRBOT_SANDBOX_FAKE_SECRET: 'sk-fake-worker-secret-4242' },
      reject: false,
    });
    const hunt = `${PRELUDE}
const fs = require('fs'); const seen = []; let leaked = false;
for (const pid of fs.readdirSync('/proc').filter((p) => /^\\d+$/.test(p))) {
  seen.push(pid);
  try { if (fs.readFileSync('/proc/' + pid + '/environ', 'utf8').includes('sk-fake-worker-secret')) leaked = true; } catch {}
}
try { if (fs.readFileSync('/proc/${worker.pid}/environ', 'utf8').includes('sk-fake-worker-secret')) leaked = true; } catch {}
done({ leaked, pids: seen.length });`;
    try {
      const a = await attack('bwrap', hunt);
      expect(a.out).toMatchObject({ leaked: false });
      expect(a.out.pids).toBeLessThan(10); // its own pid namespace: the host's processes are not there
      // As the worker's own user without the sandbox, the same code reads it.
      expect((await attack('worker-uid', hunt)).out).toMatchObject({ leaked: true });
    } finally {
      worker.kill('SIGKILL');
      await worker;
    }
  });

  it('a fork bomb is stopped by the process limit and everything it started dies with it', async () => {
    // Bounded: spawns at most 300 sleepers, stops at the first failure.
    const bomb = (tag: string) => `${PRELUDE}
const { spawn } = require('child_process'); let n = 0, err = null;
function next() {
  if (n >= 300) return done({ started: n, err });
  const c = spawn('sleep', ['${tag}'], { stdio: 'ignore', detached: true });
  c.on('error', (e) => done({ started: n, err: e.code }));
  c.on('spawn', () => { n++; next(); });
}
next();`;
    const a = await attack('bwrap', bomb('600'), { limits: { processes: 64 } });
    expect(a.out.err).toBe('EAGAIN');
    expect(a.out.started as number).toBeLessThan(64);
    expect(await sleepersLeft('600')).toEqual([]); // the pid namespace took them all down with the command
    const off = await attack('off', bomb('602'));
    expect(off.out).toMatchObject({ started: 300, err: null });
    for (const pid of await sleepersLeft('602')) process.kill(Number(pid.split(' ')[0]), 'SIGKILL'); // ours, by pid
  });

  // The memory limit on resident memory (watchdog and cgroup) has its own file: memory-limit.test.ts.
});

describe('file system', () => {
  it('cannot see or write the mirror, the records directory, the config file or the workdir', async () => {
    const dirs = await makeDirs();
    const root = path.dirname(dirs.work);
    const mirror = path.join(root, 'mirrors', 'abc.git');
    const records = path.join(root, 'cycles');
    await mkdir(path.join(mirror, 'hooks'), { recursive: true });
    await mkdir(records, { recursive: true });
    await writeFile(path.join(root, 'prbot.config.json'), '{"secret":"config"}');
    const write = `${PRELUDE}
const fs = require('fs'); const r = {};
for (const [k, p] of Object.entries({ mirror: ${JSON.stringify(path.join(mirror, 'hooks', 'pre-push'))}, records: ${JSON.stringify(path.join(records, 'forged.json'))} })) {
  try { fs.writeFileSync(p, '#!/bin/sh\\n'); r[k] = 'written'; } catch (e) { r[k] = e.code; }
}
try { r.config = fs.readFileSync(${JSON.stringify(path.join(root, 'prbot.config.json'))}, 'utf8'); } catch (e) { r.config = e.code; }
try { r.root = fs.readdirSync('/root').length; } catch (e) { r.root = e.code; }
done(r);`;
    const a = await attack('bwrap', write, { dirs });
    expect(a.out).toMatchObject({ mirror: 'ENOENT', records: 'ENOENT', config: 'ENOENT' });
    expect(a.out.root).not.toBeTypeOf('number');
    expect(existsSync(path.join(mirror, 'hooks', 'pre-push'))).toBe(false);
    expect(existsSync(path.join(records, 'forged.json'))).toBe(false);
    // The worker's own user, unsandboxed, writes both.
    const off = await attack('worker-uid', write, { dirs });
    expect(off.out).toMatchObject({ mirror: 'written', records: 'written' });
  });

  it('the system is read-only, the work tree writable', async () => {
    const probe = `${PRELUDE}
const fs = require('fs'); const r = {};
for (const p of ['/usr/prbot-probe', '/etc/prbot-probe', '/prbot/work/ok', '/prbot/home/ok', '/tmp/ok']) { try { fs.writeFileSync(p, 'x'); r[p] = 'written'; } catch (e) { r[p] = e.code; } }
done(r);`;
    const a = await attack('bwrap', probe);
    expect(a.out['/usr/prbot-probe']).toMatch(/EROFS|EACCES/);
    expect(a.out['/etc/prbot-probe']).toMatch(/EROFS|EACCES/);
    expect(a.out).toMatchObject({ '/prbot/work/ok': 'written', '/prbot/home/ok': 'written', '/tmp/ok': 'written' });
    expect(existsSync(path.join(a.dirs.work, 'ok'))).toBe(true);
  });

  it('positive control: with --bind instead of --ro-bind, a world-writable directory of the host shown to the tests is written', async () => {
    // The test uid cannot write /usr or /etc on the host anyway (their modes); what the read-only
    // bind adds is that a shown directory the host's modes leave open (here a tool directory,
    // 0777) is still not writable. Switched off in this process only (sandboxDefences).
    const dirs = await makeDirs();
    const tool = path.join(path.dirname(dirs.work), 'tool');
    await mkdir(tool);
    await chmod(tool, 0o777);
    const probe = (p: string) => `${PRELUDE}
const fs = require('fs'); let r; try { fs.writeFileSync(${JSON.stringify(p)}, 'x'); r = 'written'; } catch (e) { r = e.code; }
done({ r });`;
    const on = await attack('bwrap', probe(path.join(tool, 'on')), { dirs, toolDirs: [tool] });
    expect(on.out).toEqual({ r: 'EROFS' });
    sandboxDefences.readOnlySystem = false;
    let off;
    try {
      off = await attack('bwrap', probe(path.join(tool, 'off')), { dirs, toolDirs: [tool] });
    } finally {
      sandboxDefences.readOnlySystem = true;
    }
    expect(off.out).toEqual({ r: 'written' });
    expect(existsSync(path.join(tool, 'off'))).toBe(true);
  });
});

/** Detached `sleep <tag>`s still alive (not zombies), after giving SIGKILLed ones a moment to die. */
async function sleepersLeft(tag: string): Promise<string[]> {
  const { readdir, readFile } = await import('node:fs/promises');
  let found: string[] = [];
  for (let round = 0; round < 50; round++) {
    found = [];
    for (const pid of (await readdir('/proc')).filter((p) => /^\d+$/.test(p))) {
      const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
      if (/^State:\s+Z/m.test(status)) continue;
      if ((await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')) === `sleep\x00${tag}\x00`)
        found.push(`${pid} ${/^State:.*$/m.exec(status)?.[0]} ${/^Uid:.*$/m.exec(status)?.[0]}`);
    }
    if (found.length === 0) return [];
    await new Promise((r) => setTimeout(r, 100));
  }
  return found;
}
