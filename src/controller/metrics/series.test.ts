import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rebucket } from './bucket.js';
import { Ring } from './ring.js';
import { Series } from './series.js';
import { fromRow, toRow, VM_SHAPE, width } from './shape.js';
import type { VmPoint } from '../../contracts/metrics.js';

const W = width(VM_SHAPE);
const pt = (t: number, cpuCores: number, o: Partial<VmPoint> = {}): VmPoint => ({ t, cpuCores, rssMiB: 100, diskReadBps: 0, diskWriteBps: 0, netRxBps: 0, netTxBps: 0, samples: 1, ...o });
const row = (t: number, cpu: number, o: Partial<VmPoint> = {}): Float64Array => toRow(VM_SHAPE, pt(t, cpu, o));
const TIERS = [
  { stepMs: 0, keepMs: 60_000 },
  { stepMs: 10_000, keepMs: 3_600_000 },
];

describe('metrics: downsampling', () => {
  it('a bucket is the mean of its samples, with their count; optional fields over those that had them', () => {
    const [b] = rebucket([row(10_000, 1, { dirtyMiBps: 4 }), row(12_000, 2), row(19_999, 3, { dirtyMiBps: 8 })], 10_000, W);
    assert.deepEqual(fromRow(VM_SHAPE, b!), pt(10_000, 2, { dirtyMiBps: 6, samples: 3 }));
  });

  it('re-bucketing means is weighted by samples', () => {
    const [b] = rebucket([row(0, 1, { samples: 3 }), row(10_000, 5, { samples: 1 })], 60_000, W);
    assert.equal(fromRow<VmPoint>(VM_SHAPE, b!).cpuCores, 2);
    assert.equal(b![1], 4);
  });

  it('buckets close when a later sample arrives, and flush closes a quiet one', () => {
    const s = new Series(W, TIERS);
    assert.deepEqual(s.add(row(1000, 1)), []);
    assert.deepEqual(s.add(row(5000, 3)), []);
    const closed = s.add(row(11_000, 9));
    assert.equal(closed.length, 1);
    assert.equal(closed[0]!.stepMs, 10_000);
    assert.deepEqual(fromRow(VM_SHAPE, closed[0]!.row), pt(0, 2, { samples: 2 }));
    assert.deepEqual(s.flush(20_000, 5000), [], 'not yet past the grace');
    assert.equal(s.flush(25_000, 5000).length, 1);
    assert.deepEqual(s.points(1, 0, Infinity).map((r) => r[0]), [0, 10_000]);
  });

  it('samples out of order or too late for a closed bucket are dropped', () => {
    const s = new Series(W, TIERS);
    s.add(row(1000, 1));
    s.add(row(11_000, 1));
    assert.deepEqual(s.add(row(500, 7)), []);
    assert.equal(s.points(0, 0, Infinity).length, 2);
  });
});

describe('metrics: retention', () => {
  it('raw points older than the retention go as new ones come', () => {
    const s = new Series(W, TIERS);
    for (let t = 0; t <= 120_000; t += 1000) s.add(row(t, 1));
    const raw = s.points(0, 0, Infinity);
    assert.equal(raw[0]![0], 60_000);
    assert.equal(raw.length, 61);
  });

  it('a ring never holds more than its capacity, and grows only as needed', () => {
    const r = new Ring(100, W);
    const small = r.bytes;
    for (let t = 0; t < 1000; t++) r.push(row(t, t), Infinity);
    assert.equal(r.length, 100);
    assert.equal(r.at(0)[0], 900);
    assert.equal(r.last()![0], 999);
    assert.ok(small < r.bytes && r.bytes === 100 * W * 8);
  });

  it('restore puts buckets back and reopens the newest', () => {
    const s = new Series(W, TIERS);
    s.restore(10_000, [row(0, 1, { samples: 10 }), row(10_000, 2, { samples: 5 })]);
    s.add(row(15_000, 8));
    const [a, b] = s.points(1, 0, Infinity).map((r) => fromRow<VmPoint>(VM_SHAPE, r));
    assert.equal(a!.cpuCores, 1);
    assert.deepEqual([b!.cpuCores, b!.samples], [3, 6]);
  });
});
