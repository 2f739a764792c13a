import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MigrationInfo, MigrationStats } from '../../qmp/index.js';
import { initialProgress, withDisks, withFailure, withMigrateInfo, withQemuStatus, withRounds, withState, type ProgressSnapshot } from './progress.js';

const MiB = 1024 * 1024;

/** A query-migrate answer: QEMU always sends every RAM field; the test names the ones it cares about. */
function info(status: MigrationInfo['status'], ram: Partial<MigrationStats>, extra: Partial<MigrationInfo> = {}): MigrationInfo {
  return {
    status,
    ram: {
      transferred: 0, remaining: 0, total: 0, duplicate: 0, normal: 0, 'normal-bytes': 0, 'dirty-pages-rate': 0, mbps: 0, 'dirty-sync-count': 0,
      'postcopy-requests': 0, 'page-size': 4096, 'multifd-bytes': 0, 'pages-per-second': 0, 'precopy-bytes': 0, 'downtime-bytes': 0,
      'postcopy-bytes': 0, 'dirty-sync-missed-zero-copy': 0, ...ram,
    },
    ...extra,
  };
}

test('percent never decreases across rounds and reaches 100 only at completion', () => {
  let s = withQemuStatus(initialProgress('m1', 'source', 128 * MiB), 'active');
  s = withMigrateInfo(s, info('active', { transferred: 64 * MiB, remaining: 64 * MiB, 'dirty-sync-count': 1, mbps: 800 }), { wire: 0 });
  assert.equal(s.progress.percent, 50);
  assert.ok(s.progress.etaMs !== undefined && s.progress.etaMs > 0);
  s = withMigrateInfo(s, info('active', { transferred: 70 * MiB, remaining: 120 * MiB, 'dirty-sync-count': 2 }), { wire: 0 });
  assert.equal(s.progress.percent, 50);
  assert.equal(s.progress.rounds, 2);
  assert.equal(s.progress.qemuStatus, 'active');
  s = withMigrateInfo(s, info('active', { transferred: 1000 * MiB, remaining: 0 }), { wire: 5 });
  assert.equal(s.progress.percent, 99);
  s = withQemuStatus(s, 'completed');
  s = withMigrateInfo(s, info('completed', { transferred: 1001 * MiB, remaining: 0, 'dirty-pages-rate': 10, 'page-size': 4096 }, { downtime: 12, 'total-time': 900 }), { wire: 7 });
  assert.equal(s.progress.percent, 100);
  assert.equal(s.progress.downtimeMs, 12);
  assert.equal(s.progress.totalMs, 900);
  assert.equal(s.progress.dirtyRateBytesPerSec, 40960);
  assert.equal(s.progress.wireBytes, 7);
  assert.equal(s.progress.qemuStatus, 'completed');
});

test('postcopy-active marks the switch; fail keeps the first cause', () => {
  let s = initialProgress('m2', 'source', MiB);
  s = withQemuStatus(s, 'postcopy-active');
  assert.equal(s.progress.switchedToPostcopy, true);
  s = withFailure(s, 'failed', 'QEMU_FAILED', 'first');
  s = withFailure(s, 'failed', 'WIRE_FAILED', 'second');
  assert.deepEqual(s.progress.error, { code: 'QEMU_FAILED', message: 'first' });
});

test('disk mirror bytes count first, then RAM on top; percent never runs back', () => {
  let s = initialProgress('m3', 'source', 64 * MiB);
  s = withDisks(s, { done: 32 * MiB, total: 64 * MiB }, { carried: 30 * MiB, wire: 100 });
  assert.equal(s.progress.percent, 25);
  assert.equal(s.progress.streamBytes, 30 * MiB);
  s = withDisks(s, { done: 64 * MiB, total: 66 * MiB }, { carried: 60 * MiB, wire: 200 }); // the guest wrote more meanwhile: len grows
  assert.equal(s.progress.percent, 49.2);
  s = withMigrateInfo(s, info('active', { transferred: 32 * MiB, remaining: 32 * MiB, 'dirty-sync-count': 1 }), { wire: 300, diskCarried: 61 * MiB });
  assert.equal(s.progress.percent, 75.3);
  assert.equal(s.progress.streamBytes, 93 * MiB);
  s = withMigrateInfo(s, info('completed', { transferred: 64 * MiB, remaining: 0 }), { wire: 400, diskCarried: 62 * MiB });
  assert.equal(s.progress.percent, 100);
  assert.equal(s.progress.streamBytes, 126 * MiB);
});

test('snapshots are frozen and a reducer never changes the one it was given', () => {
  const first = initialProgress('m4', 'target', 8 * MiB);
  const later: ProgressSnapshot = withFailure(withRounds(withQemuStatus(first, 'active'), 3), 'aborted', 'ABORTED', 'by request');
  assert.ok(Object.isFrozen(first.progress) && Object.isFrozen(later.progress) && Object.isFrozen(later.progress.error));
  assert.throws(() => ((later.progress as { percent: number }).percent = 50), TypeError);
  assert.deepEqual([first.progress.state, first.progress.qemuStatus, first.progress.rounds, first.progress.error], ['reserved', 'none', 0, undefined]);
  assert.deepEqual([later.progress.state, later.progress.qemuStatus, later.progress.rounds], ['aborted', 'active', 3]);
  assert.equal(withRounds(later, 2).progress.rounds, 3); // rounds only grow
});

test('a completed state is 100 % with nothing left, whatever was sampled before', () => {
  let s = initialProgress('m5', 'target', 8 * MiB);
  s = withState(s, 'active');
  assert.deepEqual([s.progress.percent, s.progress.remainingBytes], [0, 8 * MiB]);
  s = withState(s, 'completed');
  assert.deepEqual([s.progress.state, s.progress.percent, s.progress.remainingBytes, s.progress.etaMs], ['completed', 100, 0, undefined]);
});
