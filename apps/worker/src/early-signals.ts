/**
 * Imported first by main.ts, so it is in place while the rest loads (tsx takes seconds on a
 * busy machine): until the workers run, a stop signal has nothing to wind down, so the process
 * exits at once with 0 instead of dying of the signal.
 */
const early = () => process.exit(0);
process.on('SIGTERM', early);
process.on('SIGINT', early);

export function releaseEarlySignals(): void {
  process.off('SIGTERM', early);
  process.off('SIGINT', early);
}
