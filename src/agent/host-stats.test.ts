import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_NET_CAPACITY_BYTES_PER_SEC, hostCpuBusySeconds, parseNetCapacity, parseProcStatBusyTicks } from './host-stats.js';

test('busy ticks are total minus idle and iowait, guest time not counted twice', () => {
  const stat = [
    'cpu  100 5 50 1000 20 3 2 1 40 4',
    'cpu0 50 2 25 500 10 1 1 0 20 2',
    'intr 12345',
  ].join('\n');
  // user+nice+system+irq+softirq+steal = 100+5+50+3+2+1; guest (40) and guest_nice (4) are inside user and nice.
  assert.equal(parseProcStatBusyTicks(stat), 161);
});

test('old kernels without steal/guest columns still parse', () => {
  assert.equal(parseProcStatBusyTicks('cpu  10 0 5 100 7\n'), 15);
});

test('no aggregate cpu line or garbage gives undefined', () => {
  assert.equal(parseProcStatBusyTicks('cpu0 1 2 3 4 5\n'), undefined);
  assert.equal(parseProcStatBusyTicks('cpu  a b c d e\n'), undefined);
  assert.equal(parseProcStatBusyTicks(''), undefined);
});

test('this machine reports a positive busy time', () => {
  const s = hostCpuBusySeconds();
  assert.ok(s !== undefined && s > 0);
});

test('capacity accepts bytes/s, bit rates and byte rates', () => {
  assert.equal(parseNetCapacity('125000000'), DEFAULT_NET_CAPACITY_BYTES_PER_SEC);
  assert.equal(parseNetCapacity('1gbit'), 125_000_000);
  assert.equal(parseNetCapacity('1Gbit/s'), 125_000_000);
  assert.equal(parseNetCapacity('100mbit'), 12_500_000);
  assert.equal(parseNetCapacity('2.5gbit'), 312_500_000);
  assert.equal(parseNetCapacity('10MB'), 10_000_000);
  assert.equal(parseNetCapacity('64MiB'), 64 * 1024 * 1024);
  assert.equal(parseNetCapacity(' 500kbit '), 62_500);
});

test('capacity refuses ambiguous, empty, zero and negative values', () => {
  for (const bad of ['', '0', '-5', '1mbps', 'fast', '1 gbit extra', '0.1']) {
    assert.throws(() => parseNetCapacity(bad), RangeError, bad);
  }
});
