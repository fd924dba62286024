/**
 * One racing process of slot-lock-race.test.ts: acquires and releases slots of a shared pool
 * `rounds` times; while it holds slot i it must be the only one holding it, which it checks by
 * creating `held-i` exclusively (O_EXCL). Prints {acquired, violations} as JSON.
 */
import { mkdirSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Mirror } from '@prbot/repo';
import { SlotPool, slotLockDefence } from '@prbot/sandbox';

const [workdir, rounds] = [process.argv[2]!, Number(process.argv[3])];
// The positive control: the same race with the cross-process lock switched off in this process.
if (process.argv[4] === 'no-lock') slotLockDefence.crossProcess = false;
// A start line: every racer waits until all `racers` have started (node and tsx take seconds to
// load on a busy machine; without the lock a child finishes in milliseconds, before the next has
// even started, and nothing overlaps).
const racers = Number(process.argv[5] ?? 1);
mkdirSync(path.join(workdir, 'ready'), { recursive: true });
writeFileSync(path.join(workdir, 'ready', String(process.pid)), '');
while (readdirSync(path.join(workdir, 'ready')).length < racers) await new Promise((r) => setTimeout(r, 5));
const pool = new SlotPool(new Mirror(workdir, 'race'), workdir);
let acquired = 0;
let violations = 0;
await Promise.all(
  Array.from({ length: 5 }, async () => {
    for (let i = 0; i < rounds / 5; i++) {
      const slot = await pool.acquire();
      acquired++;
      const marker = path.join(pool.root, `held-${slot.index}`);
      try {
        writeFileSync(marker, String(process.pid), { flag: 'wx' });
      } catch {
        violations++;
      }
      await new Promise((r) => setTimeout(r, Math.random() * 3));
      try {
        unlinkSync(marker);
      } catch {
        /* another holder removed it: counted above */
      }
      await slot.release();
    }
  }),
);
process.stdout.write(JSON.stringify({ acquired, violations }) + '\n');
