import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { packageManagerPlan, readPackageManagerPin, toolsUsed } from './package-manager.ts';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});
const tree = async (pkg: unknown) => {
  dir = await mkdtemp(path.join(tmpdir(), 'prbot-pm-'));
  if (pkg !== undefined)
    await writeFile(path.join(dir, 'package.json'), typeof pkg === 'string' ? pkg : JSON.stringify(pkg));
  return dir;
};

describe("packageManager pins (the work tree is the change's)", () => {
  it('reads tool@version, with or without its hash', async () => {
    expect(await readPackageManagerPin(await tree({ packageManager: 'pnpm@10.28.0+sha512.abc123' }))).toEqual({
      pin: { tool: 'pnpm', version: '10.28.0', raw: 'pnpm@10.28.0+sha512.abc123' },
    });
  });

  it('a URL or anything not tool@x.y.z is invalid: the switch goes off, nothing is fetched from it', async () => {
    const found = await readPackageManagerPin(await tree({ packageManager: 'pnpm@https://evil.invalid/pnpm.tgz' }));
    expect(found).toEqual({ pin: null, invalid: 'pnpm@https://evil.invalid/pnpm.tgz' });
    const plan = packageManagerPlan(found, [['pnpm', 'install']], { setupNetwork: true });
    expect(plan.env).toMatchObject({
      npm_config_manage_package_manager_versions: 'false',
      COREPACK_ENABLE_NETWORK: '0',
    });
  });

  it('a package.json that is a link (to a file root can read) or a FIFO is not read', async () => {
    const d = await tree(undefined);
    await writeFile(path.join(d, 'secret.json'), JSON.stringify({ packageManager: 'pnpm@1.2.3' }));
    await symlink(path.join(d, 'secret.json'), path.join(d, 'package.json'));
    expect(await readPackageManagerPin(d)).toEqual({ pin: null });
    await rm(path.join(d, 'package.json'));
    execFileSync('mkfifo', [path.join(d, 'package.json')]);
    expect(await readPackageManagerPin(d)).toEqual({ pin: null }); // and it did not block
  });

  it('no pin, or commands that use no package manager: nothing changes', async () => {
    expect(packageManagerPlan({ pin: null }, [['pnpm', 'test']], { setupNetwork: false })).toMatchObject({
      env: {},
      probe: null,
    });
    expect(
      packageManagerPlan({ pin: { tool: 'pnpm', version: '9.15.0', raw: 'pnpm@9.15.0' } }, [['pytest']], {
        setupNetwork: false,
      }),
    ).toMatchObject({ env: {}, probe: null });
    expect([
      ...toolsUsed([
        ['npx', 'vitest'],
        ['corepack', 'yarn', 'test'],
        ['/usr/bin/pnpm', 'i'],
      ]),
    ]).toEqual(['npm', 'yarn', 'pnpm']);
  });
});
