import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GiB, KiB, MiB, bytes, duration, mib, pct, rate, seconds, sizeMiB } from './format.js';

describe('formatters', () => {
  it('sizes in binary units: whole bytes, one decimal for KiB and MiB, two from GiB up', () => {
    assert.deepEqual([0, 512, 1536, 3 * MiB, 1 << 27, 2 * GiB, 3 * 1024 * GiB].map(bytes), ['0 B', '512 B', '1.5 KiB', '3.0 MiB', '128.0 MiB', '2.00 GiB', '3.00 TiB']);
    assert.equal(bytes(-2 * KiB), '-2.0 KiB');
  });

  it('rates, amounts in MiB and sizes given in MiB', () => {
    assert.equal(rate(10 * MiB), '10.0 MiB/s');
    assert.equal(rate(1023.6), '1.0 KiB/s');
    assert.equal(mib(150 * MiB), '150.0 MiB');
    assert.equal(mib(4 * GiB), '4096.0 MiB');
    assert.deepEqual([64, 1000, 1024, 2048, 1536.5].map(sizeMiB), ['64 MiB', '1000 MiB', '1.00 GiB', '2.00 GiB', '1.50 GiB']);
  });

  it('durations', () => {
    assert.equal(duration(42), '42 ms');
    assert.equal(duration(1234), '1.2 s');
    assert.deepEqual([850, 12_300, 245_000, 7_620_000, 93_600_000].map(duration), ['850 ms', '12.3 s', '4m 05s', '2h 07m', '1d 02h']);
    assert.equal(duration(-1500), '-1.5 s');
    assert.equal(duration(undefined), undefined);
  });

  it('seconds for sentences', () => {
    assert.deepEqual([500, 1000, 2500, 42_000].map(seconds), ['0.5 s', '1 s', '2.5 s', '42 s']);
  });

  it('percentages of a fraction', () => {
    assert.equal(pct(0.256), '26%');
    assert.equal(pct(0.256, 1), '25.6%');
    assert.equal(pct(0.85), '85%');
  });

  it('a missing or non-finite value is undefined, so each surface shows its own blank', () => {
    for (const f of [bytes, rate, mib, sizeMiB, duration, pct]) {
      for (const v of [undefined, null, Number.NaN, Number.POSITIVE_INFINITY]) assert.equal(f(v), undefined, `${f.name}(${v})`);
    }
  });
});
