import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertAllowed, isAllowed } from './state-rules.js';
import { FerryError } from '../wire/index.js';

test('lifecycle transitions allowed by state', () => {
  assert.ok(isAllowed('start', 'stopped'));
  assert.ok(isAllowed('start', 'crashed'));
  assert.ok(!isAllowed('start', 'running'));
  assert.ok(isAllowed('pause', 'running'));
  assert.ok(!isAllowed('pause', 'stopped'));
  assert.ok(isAllowed('resume', 'paused'));
  assert.ok(!isAllowed('resume', 'running'));
  assert.ok(isAllowed('restore', 'suspended'));
  assert.ok(!isAllowed('suspend', 'suspended'));
  assert.ok(isAllowed('delete', 'suspended'));
  assert.ok(!isAllowed('delete', 'running'));
  assert.ok(!isAllowed('stop', 'stopped'));
});

test('transitional states allow nothing', () => {
  for (const s of ['starting', 'stopping', 'suspending', 'restoring'] as const) {
    for (const a of ['start', 'pause', 'stop', 'delete', 'clone'] as const) assert.ok(!isAllowed(a, s), `${a} in ${s}`);
  }
});

test('forbidden action is a typed INVALID_STATE error naming the VM and state', () => {
  assert.throws(
    () => assertAllowed('pause', 'web1', 'stopped'),
    (e: unknown) => e instanceof FerryError && e.code === 'INVALID_STATE' && e.message === 'cannot pause vm web1: it is stopped',
  );
});
