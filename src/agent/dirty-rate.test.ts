import { test } from 'node:test';
import assert from 'node:assert/strict';
import { busyReason, DIRTY_RATE_INTERVAL_MS, nextToMeasure, type DirtyRateCandidate, type QemuActivity } from './dirty-rate.js';

const NOW = 1_000_000;
const vm = (name: string, over: Partial<DirtyRateCandidate> = {}): DirtyRateCandidate => ({ name, state: 'running', migrating: false, ...over });

test('a running VM never measured is due', () => {
  assert.equal(nextToMeasure([vm('a')], NOW), 'a');
});

test('at most once per interval per VM', () => {
  assert.equal(nextToMeasure([vm('a', { lastStartMs: NOW - DIRTY_RATE_INTERVAL_MS + 1 })], NOW), undefined);
  assert.equal(nextToMeasure([vm('a', { lastStartMs: NOW - DIRTY_RATE_INTERVAL_MS })], NOW), 'a');
});

test('the VM that waited longest goes first; never-measured before all', () => {
  const vms = [vm('recent', { lastStartMs: NOW - 11_000 }), vm('old', { lastStartMs: NOW - 60_000 }), vm('new')];
  assert.equal(nextToMeasure(vms, NOW), 'new');
  assert.equal(nextToMeasure(vms.slice(0, 2), NOW), 'old');
});

test('paused, stopped, starting and migrating VMs are skipped', () => {
  for (const state of ['paused', 'stopped', 'starting', 'suspending', 'restoring', 'stopping', 'crashed'] as const) {
    assert.equal(nextToMeasure([vm('a', { state })], NOW), undefined, state);
  }
  assert.equal(nextToMeasure([vm('a', { migrating: true }), vm('b', { lastStartMs: NOW - 20_000 })], NOW), 'b');
});

const idle: QemuActivity = { runState: 'running', calcStatus: 'measured', blockJobs: 0 };

test('QEMU idle and running: may measure, before or after a finished migration', () => {
  assert.equal(busyReason(idle), undefined);
  for (const migrationStatus of ['none', 'completed', 'failed', 'cancelled']) assert.equal(busyReason({ ...idle, migrationStatus }), undefined);
  assert.equal(busyReason({ ...idle, calcStatus: 'unstarted' }), undefined);
});

test('QEMU busy: paused, incoming, migrating, checkpointing, measuring, block jobs', () => {
  for (const runState of ['paused', 'inmigrate', 'postmigrate', 'finish-migrate', 'prelaunch']) assert.ok(busyReason({ ...idle, runState }), runState);
  for (const migrationStatus of ['setup', 'active', 'postcopy-active', 'pre-switchover', 'device', 'cancelling']) {
    assert.ok(busyReason({ ...idle, migrationStatus }), migrationStatus);
  }
  assert.match(busyReason({ ...idle, calcStatus: 'measuring' }) ?? '', /another/);
  assert.match(busyReason({ ...idle, blockJobs: 1 }) ?? '', /block job/);
});
