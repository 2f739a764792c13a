import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProgressTracker } from './progress.js';

const MiB = 1024 * 1024;

test('percent never decreases across rounds and reaches 100 only at completion', () => {
  const t = new ProgressTracker('m1', 'source', 128 * MiB, 'precopy');
  t.update({ status: 'active', ram: { transferred: 64 * MiB, remaining: 64 * MiB, 'dirty-sync-count': 1, mbps: 800 } }, 0);
  assert.equal(t.p.percent, 50);
  assert.ok(t.p.etaMs !== undefined && t.p.etaMs > 0);
  t.update({ status: 'active', ram: { transferred: 70 * MiB, remaining: 120 * MiB, 'dirty-sync-count': 2 } }, 0);
  assert.equal(t.p.percent, 50);
  assert.equal(t.p.step, 'iterative-transfer');
  t.update({ status: 'active', ram: { transferred: 1000 * MiB, remaining: 0 } }, 5);
  assert.equal(t.p.percent, 99);
  t.update({ status: 'completed', downtime: 12, 'total-time': 900, ram: { transferred: 1001 * MiB, remaining: 0, 'dirty-pages-rate': 10, 'page-size': 4096 } }, 7);
  assert.equal(t.p.percent, 100);
  assert.equal(t.p.downtimeMs, 12);
  assert.equal(t.p.totalMs, 900);
  assert.equal(t.p.dirtyRateBytesPerSec, 40960);
  assert.equal(t.p.wireBytes, 7);
  assert.equal(t.p.step, 'commitment');
});

test('postcopy-active marks the switch; fail keeps the first cause', () => {
  const t = new ProgressTracker('m2', 'source', MiB, 'postcopy');
  t.update({ status: 'postcopy-active' }, 0);
  assert.equal(t.p.switchedToPostcopy, true);
  t.fail('failed', 'QEMU_FAILED', 'first');
  t.fail('failed', 'X', 'second');
  assert.deepEqual(t.p.error, { code: 'QEMU_FAILED', message: 'first' });
});

test('disk mirror bytes count first, then RAM on top; percent never runs back', () => {
  const t = new ProgressTracker('m3', 'source', 64 * MiB, 'precopy');
  t.updateDisks(32 * MiB, 64 * MiB, 30 * MiB, 100);
  assert.equal(t.p.percent, 25);
  assert.equal(t.p.streamBytes, 30 * MiB);
  t.updateDisks(64 * MiB, 66 * MiB, 60 * MiB, 200); // the guest wrote more meanwhile: len grows
  assert.equal(t.p.percent, 49.2);
  t.update({ status: 'active', ram: { transferred: 32 * MiB, remaining: 32 * MiB, 'dirty-sync-count': 1 } }, 300, 61 * MiB);
  assert.equal(t.p.percent, 75.3);
  assert.equal(t.p.streamBytes, 93 * MiB);
  t.update({ status: 'completed', ram: { transferred: 64 * MiB, remaining: 0 } }, 400, 62 * MiB);
  assert.equal(t.p.percent, 100);
  assert.equal(t.p.streamBytes, 126 * MiB);
});
