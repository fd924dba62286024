// The KEDA/HPA rules the autoscale reliability test drives workers with (test/reliability/keda-scaler.ts).
import { describe, expect, it } from 'vitest';
import { KedaScaler, valueAt } from './reliability/keda-scaler.ts';

const spec = { target: 2, activation: 0, minReplicas: 0, maxReplicas: 3, cooldownMs: 4000, stabilizationMs: 3000 };

describe('KEDA scaling rules', () => {
  it('activates from zero at the first poll above the activation value, to ceil(metric / target) within max', () => {
    const s = new KedaScaler(spec);
    expect(s.poll(0, 0)).toBe(0);
    expect(s.poll(1, 1000)).toBe(1);
    expect(s.poll(5, 2000)).toBe(3);
    expect(s.poll(40, 3000)).toBe(3); // max
    expect(new KedaScaler(spec).poll(3, 0)).toBe(2);
  });

  it('scales down to the highest recommendation of the stabilization window, and to zero only after the cooldown at 0', () => {
    const s = new KedaScaler(spec);
    s.poll(6, 0); // 3
    expect(s.poll(2, 1000)).toBe(3); // 1 recommended, 3 still in the window
    expect(s.poll(2, 3500)).toBe(1); // the 3 left the window
    expect(s.poll(0, 4000)).toBe(1); // inactive: the HPA keeps 1, KEDA waits for the cooldown
    expect(s.poll(0, 7000)).toBe(1);
    expect(s.poll(0, 8000)).toBe(0); // 4 s after the last active poll (3500)
    expect(s.poll(0, 9000)).toBe(0);
  });

  it('never below minReplicas when it is above zero', () => {
    const s = new KedaScaler({ ...spec, minReplicas: 1 });
    expect(s.replicas).toBe(1);
    expect(s.poll(0, 0)).toBe(1);
    expect(s.poll(0, 60_000)).toBe(1);
  });

  it('valueLocation reads a dotted path and refuses a missing or non-numeric value', () => {
    expect(valueAt({ queues: { test: { load: 4 } } }, 'queues.test.load')).toBe(4);
    expect(() => valueAt({ queues: { test: {} } }, 'queues.test.load')).toThrow(/no number at queues.test.load/);
  });
});
