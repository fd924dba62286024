// What KEDA and the HPA it drives do with one ScaledObject's metric, at each polling interval,
// as their docs describe it (keda.sh "Scaling Deployments": activation, cooldownPeriod; the
// Kubernetes HPA docs: desiredReplicas for an AverageValue external metric is
// ceil(metric / target), scale-up immediate, scale-down the highest recommendation within the
// stabilization window), so a test can drive real worker processes the way a cluster would.

export interface KedaSpec {
  /** trigger metadata.targetValue: the metric one replica takes. */
  target: number;
  /** trigger metadata.activationTargetValue (default 0): above it, KEDA activates from zero. */
  activation: number;
  minReplicas: number;
  maxReplicas: number;
  /** spec.cooldownPeriod: inactive this long before KEDA scales from 1 to 0 (only when minReplicas is 0). */
  cooldownMs: number;
  /** behavior.scaleDown.stabilizationWindowSeconds of the HPA. */
  stabilizationMs: number;
}

export class KedaScaler {
  replicas: number;
  private lastActive = -Infinity;
  private recommendations: { at: number; replicas: number }[] = [];

  constructor(private readonly spec: KedaSpec) {
    this.replicas = spec.minReplicas;
  }

  /** The replica count after a poll that read `metric` at time `now` (ms). */
  poll(metric: number, now: number): number {
    const s = this.spec;
    const active = metric > s.activation;
    if (active) this.lastActive = now;
    // The HPA never goes below 1; 0 is KEDA's own decision (activation and cooldown).
    const floor = Math.max(1, s.minReplicas);
    const raw = Math.min(s.maxReplicas, Math.max(floor, Math.ceil(metric / s.target)));
    if (this.replicas === 0) {
      if (!active) return 0;
      this.recommendations = [{ at: now, replicas: raw }];
      return (this.replicas = raw);
    }
    if (s.minReplicas === 0 && !active && now - this.lastActive >= s.cooldownMs) {
      this.recommendations = [];
      return (this.replicas = 0);
    }
    this.recommendations.push({ at: now, replicas: raw });
    this.recommendations = this.recommendations.filter((r) => now - r.at <= s.stabilizationMs);
    const down = Math.max(...this.recommendations.map((r) => r.replicas));
    this.replicas = raw >= this.replicas ? raw : Math.min(this.replicas, down);
    return this.replicas;
  }
}

/** KEDA's metrics-api valueLocation for JSON (GJSON path; prbot's are plain dotted keys). */
export function valueAt(body: unknown, location: string): number {
  let at: unknown = body;
  for (const k of location.split('.')) at = (at as Record<string, unknown> | undefined)?.[k];
  if (typeof at !== 'number') throw new Error(`no number at ${location} in ${JSON.stringify(body).slice(0, 300)}`);
  return at;
}
