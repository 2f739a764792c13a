// How a point is laid out in memory. A series keeps thousands of points (6 h of 10 s buckets,
// 14 days of 5 min buckets), so points are stored as rows of one Float64Array — [t, samples,
// ...fields] — not as objects: about 80 bytes a VM point instead of several hundred. An absent
// optional field is NaN in its row. `fromRow` turns a row back into the wire object.
import type { HostPoint, VmPoint } from '../../contracts/metrics.js';

export interface Shape {
  /** Numeric fields after t and samples, in row order. */
  readonly fields: readonly string[];
  /** Fields that may be absent (NaN in a row). */
  readonly optional: ReadonlySet<string>;
}

/** Row index of the time and of the sample count; fields follow. */
export const T = 0;
export const SAMPLES = 1;
export const HEAD = 2;

export const VM_SHAPE: Shape = {
  fields: ['cpuCores', 'rssMiB', 'balloonMiB', 'dirtyMiBps', 'diskReadBps', 'diskWriteBps', 'netRxBps', 'netTxBps'],
  optional: new Set(['balloonMiB', 'dirtyMiBps']),
};

export const HOST_SHAPE: Shape = {
  fields: ['cpu', 'net', 'mem', 'volume', 'hostCpu', 'memoryFreeMiB', 'vmCount'],
  optional: new Set(['hostCpu']),
};

export const width = (shape: Shape): number => HEAD + shape.fields.length;

export function toRow(shape: Shape, p: { t: number; samples: number }): Float64Array {
  const row = new Float64Array(width(shape));
  row[T] = p.t;
  row[SAMPLES] = p.samples;
  shape.fields.forEach((f, i) => {
    const v = (p as unknown as Record<string, unknown>)[f];
    row[HEAD + i] = typeof v === 'number' ? v : NaN;
  });
  return row;
}

export function fromRow<P extends VmPoint | HostPoint>(shape: Shape, row: ArrayLike<number>): P {
  const p: Record<string, number> = { t: row[T]!, samples: row[SAMPLES]! };
  shape.fields.forEach((f, i) => {
    const v = row[HEAD + i]!;
    if (!Number.isNaN(v)) p[f] = v;
  });
  return p as unknown as P;
}
