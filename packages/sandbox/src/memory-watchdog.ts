import { runProcesses, type RunScope } from './run-processes.ts';

/** What the watchdog saw of a run. */
export interface WatchReport {
  /** The largest sum of resident memory of the run's processes at one sample, in bytes. */
  peakRssBytes: number;
  /** The most threads of the run at one sample (RLIMIT_NPROC counts threads). */
  peakThreads: number;
  /** True when the run went over `memoryBytes` and the watchdog killed it. */
  killedOverMemory: boolean;
  /** The resident memory at the sample that killed it. */
  overBytes: number;
}

export interface Watchdog {
  stop(): Promise<WatchReport>;
}

/**
 * Where the worker has no cgroup of its own to give a run (docs/SECURITY.md, "Limits"): samples
 * the run's processes every `intervalMs` and, once their resident memory together is over
 * `memoryBytes`, SIGKILLs every one of them and calls `onOver` (which kills the process group and
 * the run's uid too). Resident memory, not address space: V8 reserves tens of GiB of address
 * space for WebAssembly and pointer compression that it never touches, so RLIMIT_AS at any
 * sensible size kills vitest at start (`WebAssembly.instantiate(): Out of memory`, issue 26).
 * Between two samples a run can outgrow the limit by what it allocates in `intervalMs`.
 */
export function startWatchdog(
  scope: RunScope,
  o: { memoryBytes: number; intervalMs?: number; onOver: () => void },
): Watchdog {
  const report: WatchReport = { peakRssBytes: 0, peakThreads: 0, killedOverMemory: false, overBytes: 0 };
  const interval = o.intervalMs ?? 200;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const sample = async () => {
    const procs = await runProcesses(scope);
    const rss = procs.reduce((n, p) => n + p.rssBytes, 0);
    report.peakRssBytes = Math.max(report.peakRssBytes, rss);
    report.peakThreads = Math.max(
      report.peakThreads,
      procs.reduce((n, p) => n + p.threads, 0),
    );
    if (rss > o.memoryBytes && !report.killedOverMemory) {
      report.killedOverMemory = true;
      report.overBytes = rss;
      for (const p of procs) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          /* gone already */
        }
      }
      o.onOver();
    }
  };
  const tick = () => {
    running = sample()
      .catch(() => undefined)
      .then(() => {
        if (!stopped) timer = setTimeout(tick, interval);
      });
  };
  tick();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
      return report;
    },
  };
}
