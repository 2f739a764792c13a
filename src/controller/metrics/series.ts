// One VM's or host's time series in the tiers of METRIC_TIERS: raw samples, and coarser tiers
// whose points are the means of fixed, epoch-aligned buckets. A bucket is open while samples
// still fall in it and closes when a later one arrives (or `flush` finds it over); closed
// buckets are returned so the caller can persist them. Pure: no clock, no I/O.
import { METRIC_TIERS, type MetricTier } from '../../contracts/metrics.js';
import { Bucket } from './bucket.js';
import { Ring } from './ring.js';
import { T } from './shape.js';

/** Raw samples come about once a second; capacity allows twice that rate over the retention. */
export const MIN_SAMPLE_INTERVAL_MS = 500;

export interface ClosedBucket {
  stepMs: number;
  row: Float64Array;
}

class Tier {
  readonly ring: Ring;
  open: Bucket | undefined;
  /** End of the last closed bucket: a later sample for before it is too late for this tier. */
  closedUntil = -Infinity;

  constructor(
    readonly spec: MetricTier,
    width: number,
  ) {
    const every = spec.stepMs || MIN_SAMPLE_INTERVAL_MS;
    this.ring = new Ring(Math.ceil(spec.keepMs / every) + 1, width);
  }

  close(out: ClosedBucket[]): void {
    if (!this.open) return;
    const row = this.open.mean();
    this.ring.push(row, this.spec.keepMs);
    this.closedUntil = this.open.start + this.spec.stepMs;
    this.open = undefined;
    out.push({ stepMs: this.spec.stepMs, row });
  }
}

export class Series {
  readonly tiers: readonly Tier[];
  private last = -Infinity;

  constructor(
    readonly width: number,
    tiers: readonly MetricTier[] = METRIC_TIERS,
  ) {
    this.tiers = tiers.map((t) => new Tier(t, width));
  }

  /** Adds a raw sample; returns the buckets it closed. A sample not after the last one is dropped. */
  add(row: Float64Array): ClosedBucket[] {
    const closed: ClosedBucket[] = [];
    const t = row[T]!;
    if (t <= this.last) return closed;
    this.last = t;
    for (const tier of this.tiers) {
      const step = tier.spec.stepMs;
      if (step === 0) {
        tier.ring.push(row, tier.spec.keepMs);
        continue;
      }
      if (t < tier.closedUntil) continue;
      const start = Math.floor(t / step) * step;
      if (tier.open && tier.open.start !== start) tier.close(closed);
      tier.open ??= new Bucket(start, this.width);
      tier.open.add(row);
    }
    return closed;
  }

  /** Closes the open buckets that ended more than `graceMs` before `now` (a series gone quiet). */
  flush(now: number, graceMs: number): ClosedBucket[] {
    const closed: ClosedBucket[] = [];
    for (const tier of this.tiers) {
      if (tier.open && tier.open.start + tier.spec.stepMs + graceMs <= now) tier.close(closed);
    }
    return closed;
  }

  /** Open buckets as they stand (to persist at shutdown; `restore` reopens the newest). */
  openBuckets(): ClosedBucket[] {
    return this.tiers.flatMap((tier) => (tier.open ? [{ stepMs: tier.spec.stepMs, row: tier.open.mean() }] : []));
  }

  /**
   * Puts back persisted buckets of one tier (oldest first). The newest is reopened, so samples
   * that still fall in it after a restart are averaged in rather than lost.
   */
  restore(stepMs: number, rows: readonly Float64Array[]): void {
    const tier = this.tiers.find((t) => t.spec.stepMs === stepMs);
    if (!tier || rows.length === 0) return;
    for (const row of rows.slice(0, -1)) tier.ring.push(row, tier.spec.keepMs);
    const newest = rows[rows.length - 1]!;
    tier.open = new Bucket(newest[T]!, this.width);
    tier.open.add(newest);
    tier.closedUntil = newest[T]!;
    this.last = Math.max(this.last, newest[T]!);
  }

  /** Points of tier `i` with from <= t < to, oldest first, the open bucket included. */
  points(i: number, from: number, to: number): Float64Array[] {
    const tier = this.tiers[i]!;
    const rows = tier.ring.range(from, to);
    const open = tier.open?.mean();
    if (open && open[T]! >= from && open[T]! < to) rows.push(open);
    return rows;
  }

  latest(): Float64Array | undefined {
    return this.tiers[0]?.ring.last()?.slice();
  }

  /** Time of the newest sample (-Infinity if none). */
  get lastT(): number {
    return this.last;
  }

  get bytes(): number {
    return this.tiers.reduce((n, t) => n + t.ring.bytes, 0);
  }
}
