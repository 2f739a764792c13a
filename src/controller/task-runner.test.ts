import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { openDb, type Db } from './db.js';
import { EventBus, type BusMessage } from './events.js';
import { RESTART_MESSAGE, TaskRunner } from './task-runner.js';
import { TasksRepo } from './tasks-repo.js';

describe('TaskRunner', () => {
  let dir: string;
  let db: Db;
  let runner: TaskRunner;
  let repo: TasksRepo;
  const bus = new EventBus();
  const seen: BusMessage[] = [];
  bus.subscribe((m) => seen.push(m));

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-runner-'));
    db = openDb(join(dir, 'ferry.db'));
    repo = new TasksRepo(db);
    runner = new TaskRunner(repo, bus);
  });
  after(async () => {
    await runner.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs work in the background and persists the outcome', async () => {
    const t = runner.submit({ kind: 'demo', target: 'vm/a' }, async (ctx) => {
      ctx.progress(50, 'half way');
      return { ok: true };
    });
    assert.equal(t.state, 'queued');
    const done = await runner.settled(t.id);
    assert.equal(done.state, 'succeeded');
    assert.deepEqual(repo.get(t.id)?.result, { ok: true });
    const states = seen.filter((m) => m.event.type === 'task' && m.event.task.id === t.id).map((m) => (m.event.type === 'task' ? m.event.task.state : ''));
    assert.deepEqual([...new Set(states)], ['queued', 'running', 'succeeded']);
  });

  it('holds one task per target; a second is a CONFLICT naming the first', async () => {
    const first = runner.submit({ kind: 'demo', target: 'vm/b', alsoLocks: ['vm/c'] }, async (ctx) => {
      await once(ctx.signal, 'abort');
      ctx.signal.throwIfAborted();
    });
    for (const target of ['vm/b', 'vm/c']) {
      assert.throws(() => runner.submit({ kind: 'demo', target }, async () => {}), (e: { code: string; message: string }) => e.code === 'CONFLICT' && e.message.includes(first.id));
    }
    assert.equal(runner.runningCount(), 1);
    runner.abort(first.id, 'stop that');
    const t = await runner.settled(first.id);
    assert.equal(t.state, 'aborted');
    assert.equal(t.error?.message, 'stop that');
    // Free again.
    const next = runner.submit({ kind: 'demo', target: 'vm/b' }, async () => 1);
    assert.equal((await runner.settled(next.id)).state, 'succeeded');
    assert.throws(() => runner.abort(next.id), { code: 'INVALID_STATE' });
    assert.throws(() => runner.get('nope'), { code: 'NOT_FOUND' });
  });

  it('marks tasks left running by a previous process as failed', () => {
    repo.insert({ id: 'old', kind: 'vm.start', target: 'vm/z', state: 'running', progress: 40, message: 'starting', createdAt: 't0' });
    new TaskRunner(repo, bus).recoverInterrupted();
    const t = repo.get('old')!;
    assert.equal(t.state, 'failed');
    assert.equal(t.error?.message, RESTART_MESSAGE);
    assert.equal(t.progress, 40);
  });
});
