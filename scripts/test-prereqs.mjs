#!/usr/bin/env node
// Installs the system programs the test suite drives, so `pnpm test` passes on a fresh Debian
// machine and never depends on what happens to be installed:
//   chromium     the dashboard's browser test (playwright-core drives Debian's chromium)
//   bubblewrap   the test stage's sandbox (bwrap)
//   redis-server test/global-setup.ts starts one when no Redis answers at REDIS_URL
//   git, flock   what prbot itself runs (a minimal image may lack git; flock is util-linux)
//   go, cargo, pytest  the ecosystem suite (pnpm test:ecosystems) runs real libraries' own tests
//                with Debian's toolchains, by absolute path: a rustup or pyenv copy elsewhere on
//                PATH is not what the sandbox shows (it binds /usr, not /root)
// The compose file is validated in JS (test/compose.test.ts), so no docker-compose is needed.
// Missing programs are installed with apt-get as root; anyone else gets the exact command.
// Plain .mjs without dependencies: it runs before anything is compiled or type-checked.
import { execFileSync, spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

/** program → Debian package that provides it. */
export const PREREQS = [
  { program: 'chromium', pkg: 'chromium', why: 'the dashboard browser test' },
  { program: 'bwrap', pkg: 'bubblewrap', why: 'the test-stage sandbox' },
  { program: 'redis-server', pkg: 'redis-server', why: 'a Redis for the run when none answers at REDIS_URL' },
  { program: 'git', pkg: 'git', why: 'every stage builds commits and worktrees with git' },
  { program: 'flock', pkg: 'util-linux', why: 'the slot and test-uid locks (flock(1))' },
  // Debian's runners, from /usr (what the sandbox sees): the ecosystem suite and the runners
  // under the default limits (test/sandbox/memory-limit.test.ts).
  { program: '/usr/bin/go', pkg: 'golang-go', why: 'go test: the ecosystem suite and the sandbox limits test' },
  { program: '/usr/bin/cargo', pkg: 'cargo', why: 'cargo test: the ecosystem suite and the sandbox limits test' },
  {
    program: '/usr/bin/pytest-3',
    pkg: 'python3-pytest',
    why: 'pytest: the ecosystem suite and the sandbox limits test',
  },
];

export function onPath(program, envPath = process.env.PATH ?? '') {
  if (path.isAbsolute(program)) {
    try {
      accessSync(program, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  }
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) continue;
    try {
      accessSync(path.join(dir, program), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

export function missingPrereqs(envPath = process.env.PATH ?? '') {
  return PREREQS.filter((p) => !onPath(p.program, envPath));
}

function main() {
  const missing = missingPrereqs();
  if (missing.length === 0) return 0;
  const pkgs = [...new Set(missing.map((m) => m.pkg))];
  const list = missing.map((m) => `  ${m.program} (${m.why})`).join('\n');
  const cmd = `apt-get update && apt-get install -y --no-install-recommends ${pkgs.join(' ')}`;
  if (process.env.PRBOT_PREREQS_DRY_RUN === '1') {
    console.log(`test-prereqs: would install ${pkgs.join(' ')}`);
    return 0;
  }
  if (process.platform !== 'linux' || !onPath('apt-get')) {
    console.error(
      `test-prereqs: the tests need these programs, and this is no Debian/Ubuntu machine to install them on:\n${list}`,
    );
    return 1;
  }
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    console.error(
      `test-prereqs: the tests need these programs:\n${list}\nInstall them as root:\n  sudo sh -c '${cmd}'`,
    );
    return 1;
  }
  console.log(`test-prereqs: installing ${pkgs.join(' ')} (needed by the tests)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    execFileSync('apt-get', ['update', '-qq'], { stdio: ['ignore', 'ignore', 'inherit'], env });
    execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env,
    });
  } catch (err) {
    console.error(`test-prereqs: "${cmd}" failed (${err.message}); install the packages and run the tests again`);
    return 1;
  }
  const still = missingPrereqs();
  if (still.length) {
    console.error(`test-prereqs: still missing after apt-get: ${still.map((m) => m.program).join(', ')}`);
    return 1;
  }
  const v = spawnSync('chromium', ['--version'], { encoding: 'utf8' });
  if (v.status === 0) console.log(`test-prereqs: ${v.stdout.trim()}`);
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = main();
