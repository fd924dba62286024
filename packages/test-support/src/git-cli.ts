import { execa } from 'execa';

/**
 * git for the stand-ins and fixtures, run as a user would run it: the test support never borrows
 * prbot's own git wrapper, so a bug there cannot hide in the stand-in that checks it.
 */
export async function gitCli(
  args: string[],
  o: { cwd: string; env?: Record<string, string>; okCodes?: number[] },
): Promise<{ exitCode: number; stdout: string }> {
  const r = await execa('git', args, { cwd: o.cwd, env: o.env, reject: false });
  const exitCode = r.exitCode ?? -1;
  if (exitCode !== 0 && !(o.okCodes ?? []).includes(exitCode))
    throw new Error(`git ${args.slice(0, 2).join(' ')} failed (exit ${exitCode}): ${r.stderr}`);
  return { exitCode, stdout: r.stdout };
}
