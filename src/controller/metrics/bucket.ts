// The mean of a bucket of rows, weighted by each row's sample count so that re-bucketing
// already-averaged points gives the mean of the underlying samples. An optional field (NaN
// when absent) is averaged over the rows that have it; if none has it, it stays absent.
import { HEAD, SAMPLES, T } from './shape.js';

export class Bucket {
  private readonly sums: Float64Array;
  private readonly weights: Float64Array;
  samples = 0;

  constructor(
    readonly start: number,
    readonly width: number,
  ) {
    this.sums = new Float64Array(width);
    this.weights = new Float64Array(width);
  }

  add(row: ArrayLike<number>): void {
    const w = row[SAMPLES]!;
    this.samples += w;
    for (let i = HEAD; i < this.width; i++) {
      const v = row[i]!;
      if (Number.isNaN(v)) continue;
      this.sums[i]! += v * w;
      this.weights[i]! += w;
    }
  }

  mean(): Float64Array {
    const row = new Float64Array(this.width);
    row[T] = this.start;
    row[SAMPLES] = this.samples;
    for (let i = HEAD; i < this.width; i++) row[i] = this.weights[i]! > 0 ? this.sums[i]! / this.weights[i]! : NaN;
    return row;
  }
}

/** Rows (oldest first) grouped into buckets of `stepMs` aligned to the epoch, each the mean of its rows. */
export function rebucket(rows: readonly ArrayLike<number>[], stepMs: number, width: number): Float64Array[] {
  const out: Float64Array[] = [];
  let b: Bucket | undefined;
  for (const row of rows) {
    const start = Math.floor(row[T]! / stepMs) * stepMs;
    if (!b || b.start !== start) {
      if (b) out.push(b.mean());
      b = new Bucket(start, width);
    }
    b.add(row);
  }
  if (b) out.push(b.mean());
  return out;
}
