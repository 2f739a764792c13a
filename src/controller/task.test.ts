import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Task } from '../contracts/controller-api.js';
import { FerryError } from '../contracts/errors.js';
import { LiveTask } from './task.js';

function track(): { task: LiveTask; seen: Task[] } {
  const seen: Task[] = [];
  const task = new LiveTask({ id: 't1', kind: 'vm.start', target: 'vm/a' }, (t) => seen.push(t));
  return { task, seen };
}

describe('LiveTask', () => {
  it('never moves progress backwards and stays within 0..100', () => {
    const { task, seen } = track();
    task.markRunning();
    for (const p of [10, 5, 40, 39, -3, 250, 99]) task.progress(p);
    const ps = seen.map((t) => t.progress);
    assert.deepEqual(ps, [0, 10, 40, 100]);
    assert.equal(task.snapshot.progress, 100);
    task.progress(Number.NaN, 'still here');
    assert.equal(task.snapshot.progress, 100);
    assert.equal(task.snapshot.message, 'still here');
  });

  it('succeeds with a result and then never changes', () => {
    const { task } = track();
    task.markRunning();
    task.succeed({ name: 'a' });
    const done = task.snapshot;
    assert.equal(done.state, 'succeeded');
    assert.equal(done.progress, 100);
    assert.deepEqual(done.result, { name: 'a' });
    assert.ok(done.finishedAt);
    task.progress(10, 'late');
    task.fail(new Error('late'));
    assert.equal(task.abort(), false);
    assert.deepEqual(task.snapshot, done);
  });

  it("keeps a failure's code and words", () => {
    const { task } = track();
    task.markRunning();
    task.progress(30);
    task.fail(new FerryError('QEMU_FAILED', 'qemu: boom'));
    assert.equal(task.snapshot.state, 'failed');
    assert.deepEqual(task.snapshot.error, { code: 'QEMU_FAILED', message: 'qemu: boom' });
    assert.equal(task.snapshot.progress, 30);
  });

  it('aborts through its signal; the failure that follows is recorded as aborted', () => {
    const { task } = track();
    task.markRunning();
    let heard: unknown;
    task.signal.addEventListener('abort', () => (heard = task.signal.reason));
    assert.equal(task.abort('operator changed their mind'), true);
    assert.ok(heard instanceof FerryError && heard.code === 'ABORTED');
    assert.equal(task.snapshot.state, 'running', 'a running step ends when it notices');
    task.fail(new FerryError('ABORTED', 'POST /x: aborted'));
    assert.equal(task.snapshot.state, 'aborted');
    assert.deepEqual(task.snapshot.error, { code: 'ABORTED', message: 'operator changed their mind' });
  });

  it('a queued task ends at once when aborted', () => {
    const { task } = track();
    task.abort();
    assert.equal(task.snapshot.state, 'aborted');
    assert.equal(task.finished, true);
  });
});
