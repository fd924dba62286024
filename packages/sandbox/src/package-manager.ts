import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';

/** What `"packageManager"` in the work tree's package.json pins. */
export interface PackageManagerPin {
  tool: 'npm' | 'pnpm' | 'yarn' | 'bun';
  version: string;
  /** As written (with its `+sha512.…` hash, if any). */
  raw: string;
}

/** How the run treats a pin: extra environment for every command, what to say, and the command that shows which version runs. */
export interface PackageManagerPlan {
  pin: PackageManagerPin | null;
  env: Record<string, string>;
  /** One line for the setup log (and the record's warnings when the pin is not honoured). */
  note: string | null;
  /** `<tool> --version`, run first in the sandbox with the same environment and network as setup. */
  probe: string[] | null;
  /** True when the pinned version is not what will run. */
  degraded: boolean;
}

const PIN = /^(npm|pnpm|yarn|bun)@(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)(?:\+[0-9A-Za-z.]+)?$/;
const MAX_PACKAGE_JSON = 1024 * 1024;

/** The commands' package managers: `pnpm`, `npx` (npm), `corepack pnpm` … by program name. */
export function toolsUsed(commands: string[][]): Set<string> {
  const out = new Set<string>();
  for (const argv of commands) {
    let name = path.basename(argv[0] ?? '');
    if (name === 'corepack') name = argv[1] ?? '';
    if (name === 'npx') name = 'npm';
    if (name === 'pnpx') name = 'pnpm';
    if (['npm', 'pnpm', 'yarn', 'bun'].includes(name)) out.add(name);
  }
  return out;
}

/**
 * Reads `packageManager` from the work tree's package.json. The work tree is the change's: the
 * file is opened without following a link (O_NOFOLLOW), only if it is a regular file, and at most
 * 1 MiB is read; anything else is "no pin". A value that is not `tool@x.y.z[+hash]` (a URL
 * corepack would download from, say) is returned as `invalid`.
 */
export async function readPackageManagerPin(
  workTree: string,
): Promise<{ pin: PackageManagerPin | null; invalid?: string }> {
  const fh = await open(
    path.join(workTree, 'package.json'),
    constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK,
  ).catch(() => null);
  if (!fh) return { pin: null };
  let text: string;
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.size > MAX_PACKAGE_JSON) return { pin: null };
    const buf = Buffer.alloc(st.size);
    const { bytesRead } = await fh.read(buf, 0, st.size, 0);
    text = buf.toString('utf8', 0, bytesRead);
  } finally {
    await fh.close();
  }
  let raw: unknown;
  try {
    raw = (JSON.parse(text) as { packageManager?: unknown })?.packageManager;
  } catch {
    return { pin: null }; // the package manager will say what is wrong with it
  }
  if (raw === undefined) return { pin: null };
  const m = typeof raw === 'string' ? PIN.exec(raw) : null;
  if (!m) return { pin: null, invalid: (typeof raw === 'string' ? raw : String(JSON.stringify(raw))).slice(0, 200) };
  return { pin: { tool: m[1] as PackageManagerPin['tool'], version: m[2]!, raw: m[0] } };
}

// Each package manager's own switch: pnpm 9.7+ switches to the pinned version itself
// (manage-package-manager-versions), corepack shims download it, yarn 1.22.20+ refuses a project
// pinned to another yarn. Without a network each of those hangs or fails before the first test.
const NO_SWITCH: Record<string, string> = {
  npm_config_manage_package_manager_versions: 'false',
  COREPACK_ENABLE_STRICT: '0',
  COREPACK_ENABLE_NETWORK: '0',
  COREPACK_ENABLE_DOWNLOAD_PROMPT: '0',
  COREPACK_ENABLE_AUTO_PIN: '0',
  SKIP_YARN_COREPACK_CHECK: '1',
};

/**
 * The plan for a work tree's pin, given the configured commands and whether setup has a network
 * (tests.network "setup"). With a network the pinned version is fetched during setup (the package
 * manager's own switch, left on); without one the switch is turned off and the installed version
 * runs, with a warning. Either way a `--version` probe shows which version ran.
 */
export function packageManagerPlan(
  found: { pin: PackageManagerPin | null; invalid?: string },
  commands: string[][],
  o: { setupNetwork: boolean; fetchFailed?: string },
): PackageManagerPlan {
  const used = toolsUsed(commands);
  if (found.invalid !== undefined) {
    const tool = [...used][0];
    return {
      pin: null,
      env: used.size ? { ...NO_SWITCH } : {},
      note: `package.json's packageManager "${found.invalid}" is not tool@x.y.z: ignored, the version switch is off`,
      probe: tool ? [tool, '--version'] : null,
      degraded: true,
    };
  }
  const pin = found.pin;
  if (!pin || !used.size) return { pin, env: {}, note: null, probe: null, degraded: false };
  const tool = used.has(pin.tool) ? pin.tool : [...used][0]!;
  if (o.fetchFailed !== undefined) {
    // pnpm refuses a pinned version whose registry signature it cannot verify (a registry mirror
    // without signatures, as here): the installed, trusted one runs instead of failing setup.
    return {
      pin,
      env: { ...NO_SWITCH },
      note: `package.json pins ${pin.tool}@${pin.version}, which could not be fetched during setup (${o.fetchFailed.slice(0, 300)}): the version switch is off and the installed ${tool} runs`,
      probe: [tool, '--version'],
      degraded: true,
    };
  }
  if (o.setupNetwork) {
    return {
      pin,
      env: {},
      note: `package.json pins ${pin.tool}@${pin.version}: fetched during setup (tests.network "setup")`,
      probe: [tool, '--version'],
      degraded: false,
    };
  }
  return {
    pin,
    env: { ...NO_SWITCH },
    note: `package.json pins ${pin.tool}@${pin.version}, but setup has no network (tests.network "none"): the version switch is off (npm_config_manage_package_manager_versions=false, COREPACK_ENABLE_STRICT=0, COREPACK_ENABLE_NETWORK=0) and the installed ${tool} runs`,
    probe: [tool, '--version'],
    degraded: true,
  };
}
