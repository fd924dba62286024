/**
 * Runs `run` with one switch of a test-only defence object (`…Defence` / `…Defences`, defaults
 * true) turned off, and turns it back on in a `finally`, so a positive control that fails leaves
 * no other test of the process without its defence.
 */
export async function withDefenceOff<T extends Record<string, boolean>, R>(
  defences: T,
  key: keyof T & string,
  run: () => Promise<R> | R,
): Promise<R> {
  const was = defences[key] as boolean;
  (defences as Record<string, boolean>)[key] = false;
  try {
    return await run();
  } finally {
    (defences as Record<string, boolean>)[key] = was;
  }
}
