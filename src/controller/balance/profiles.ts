// Sandpiper's host profiles: utilisation over a sliding window, the k-of-n hotspot rule, and
// volume — one number for how loaded a host (or a VM, as a share of a host) is on all three
// resources at once. Pure arithmetic; the planner builds on it.
import type { Utilisation } from '../../contracts/balance.js';

/** Utilisation is clamped below 1 so that a saturated resource gives a large, finite volume. */
export const MAX_UTILISATION = 0.99;

const clamp = (u: number): number => Math.min(Math.max(u, 0), MAX_UTILISATION);

/** volume = 1/((1-cpu)(1-net)(1-mem)): 1 for an idle host, growing fast as any resource fills. */
export function volume(u: Utilisation): number {
  return 1 / ((1 - clamp(u.cpu)) * (1 - clamp(u.net)) * (1 - clamp(u.mem)));
}

export function peak(u: Utilisation): number {
  return Math.max(u.cpu, u.net, u.mem);
}

/** The last `n` samples (oldest first, as given). */
export function window(samples: readonly Utilisation[], n: number): readonly Utilisation[] {
  return samples.length > n ? samples.slice(samples.length - n) : samples;
}

/** A hotspot: some resource over `threshold` in at least `k` of the last `n` samples. */
export function isHotspot(samples: readonly Utilisation[], threshold: number, k: number, n: number): boolean {
  let over = 0;
  for (const s of window(samples, n)) if (peak(s) > threshold) over++;
  return over >= k;
}

/** The profile's estimate of current load: the mean over the window (undefined with no samples). */
export function meanOf(samples: readonly Utilisation[], n: number): Utilisation | undefined {
  const w = window(samples, n);
  if (w.length === 0) return undefined;
  const sum = { cpu: 0, net: 0, mem: 0 };
  for (const s of w) {
    sum.cpu += s.cpu;
    sum.net += s.net;
    sum.mem += s.mem;
  }
  return { cpu: sum.cpu / w.length, net: sum.net / w.length, mem: sum.mem / w.length };
}

export function add(a: Utilisation, b: Utilisation, sign = 1): Utilisation {
  return { cpu: Math.max(0, a.cpu + sign * b.cpu), net: Math.max(0, a.net + sign * b.net), mem: Math.max(0, a.mem + sign * b.mem) };
}

/** Standard deviation of host volumes: the plan's measure of imbalance. */
export function spread(volumes: readonly number[]): number {
  if (volumes.length === 0) return 0;
  let sum = 0;
  let sq = 0;
  for (const v of volumes) {
    sum += v;
    sq += v * v;
  }
  const mean = sum / volumes.length;
  return Math.sqrt(Math.max(0, sq / volumes.length - mean * mean));
}
