import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Task } from '../contracts/controller-api.js';
import type { FailureCode } from '../contracts/errors.js';
import { isFinished, progressLine, taskError } from './wait-task.js';
import { newOutput } from './commands/vm.js';

const task = (over: Partial<Task>): Task => ({
  id: 't1', kind: 'vm.pause', target: 'vm/web1', state: 'running', progress: 40, message: 'pausing', createdAt: '2026-01-01T00:00:00Z', ...over,
});

test('finished states', () => {
  assert.equal(isFinished(task({})), false);
  assert.equal(isFinished(task({ state: 'queued' })), false);
  for (const state of ['succeeded', 'failed', 'aborted'] as const) assert.equal(isFinished(task({ state })), true);
});

test('a failed task becomes its coded error', () => {
  const e = taskError(task({ state: 'failed', error: { code: 'INVALID_STATE', message: 'cannot pause: it is stopped' } }));
  assert.equal(e.code, 'INVALID_STATE');
  assert.equal(e.message, 'cannot pause: it is stopped');
  // A code the controller does not declare (FailureCode) can still arrive over the wire: it becomes INTERNAL.
  assert.equal(taskError(task({ state: 'failed', error: { code: 'WEIRD' as FailureCode, message: 'x' } })).code, 'INTERNAL');
  assert.equal(taskError(task({ state: 'aborted' })).code, 'ABORTED');
});

test('progress line', () => {
  assert.equal(progressLine(task({})), 'vm.pause vm/web1: running 40% pausing');
});

test('console follow prints only what is new', () => {
  assert.equal(newOutput('', 'a\nb\n'), 'a\nb\n');
  assert.equal(newOutput('seq=1\nseq=2\n', 'seq=1\nseq=2\nseq=3\n'), 'seq=3\n');
  assert.equal(newOutput('seq=1\nseq=2\n', 'seq=1\nseq=2\n'), '');
  assert.equal(newOutput('old\n', 'fresh start\n'), 'fresh start\n');
});
