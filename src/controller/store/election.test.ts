// Leadership on a real PostgreSQL server: two controllers racing, a leader that loses its
// database stepping down before the other takes over, a deposed leader's late writes refused,
// and a standby's copy following the leader's.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type pg from 'pg';
import type { Task } from '../../contracts/controller-api.js';
import { claimTerm, startTestPostgres, type TestPostgres } from '../../testing/postgres.js';
import { waitFor } from '../../testing/wait-for.js';
import { NotLeaderError } from '../errors.js';
import { TasksRepo } from '../tasks-repo.js';
import type { Change } from './capture.js';
import { LeaderElection } from './election.js';
import { PgFollower } from './follower.js';
import { openPool } from './pg-pool.js';
import { loadCopy, PgLeaderStore } from './pg-store.js';

const task = (id: string): Task => ({ id, kind: 'vm.start', target: 'vm/a', state: 'queued', progress: 0, message: 'queued', createdAt: 't0' });

describe('leadership on PostgreSQL', () => {
  let server: TestPostgres;
  before(async () => {
    server = await startTestPostgres();
  });
  after(async () => {
    await server.stop();
  });

  it('two controllers race: one leads; when it loses the database it steps down before the other leads with a higher term', async () => {
    const url = await server.database();
    const pools = [await openPool(url), await openPool(url)];
    const log: string[] = [];
    const elections = ['c1', 'c2'].map(
      (name, i) =>
        new LeaderElection(pools[i]!, {
          holder: name,
          url: `http://${name}`,
          leaseMs: 1_000,
          onElected: (term) => log.push(`${name} elected ${term}`),
          onDeposed: () => log.push(`${name} deposed`),
        }),
    );
    try {
      for (const e of elections) e.start();
      const first = await waitFor('a leader', () => elections.find((e) => e.role === 'leader'));
      const other = elections.find((e) => e !== first)!;
      await waitFor('the standby to see the leader', () => other.leader.live && other.leader.url === first.leader.url);
      assert.equal(other.role, 'standby');
      assert.equal(log.length, 1);
      const firstTerm = first.term;

      await pools[elections.indexOf(first)]!.end(); // its database is gone: it cannot renew
      await waitFor('the other to lead', () => other.role === 'leader', { timeoutMs: 20_000 });
      assert.equal(first.role, 'standby');
      assert.ok(other.term > firstTerm, `term ${other.term} after ${firstTerm}`);
      const firstName = first === elections[0] ? 'c1' : 'c2';
      const otherName = firstName === 'c1' ? 'c2' : 'c1';
      // Never two leaders: the old one stepped down before the new one was elected.
      assert.deepEqual(log, [`${firstName} elected ${firstTerm}`, `${firstName} deposed`, `${otherName} elected ${other.term}`]);
    } finally {
      for (const e of elections) await e.close();
      for (const p of pools) if (!p.ended) await p.end();
    }
  });

  it('a leader that resigns on close hands over at once', async () => {
    const url = await server.database();
    const pools = [await openPool(url), await openPool(url)];
    const a = new LeaderElection(pools[0]!, { holder: 'a', url: 'http://a', leaseMs: 600_000, onElected: () => undefined, onDeposed: () => undefined });
    const b = new LeaderElection(pools[1]!, { holder: 'b', url: 'http://b', leaseMs: 600_000, onElected: () => undefined, onDeposed: () => undefined });
    try {
      a.start();
      await waitFor('a to lead', () => a.role === 'leader');
      b.start();
      await waitFor('b to see a', () => b.leader.url === 'http://a');
      await a.close();
      // With a ten-minute lease, only the resignation lets b lead within the wait.
      await waitFor('b to lead', () => b.role === 'leader', { timeoutMs: 20_000 });
    } finally {
      await a.close();
      await b.close();
      for (const p of pools) await p.end();
    }
  });

  it("a deposed leader's late writes are refused, and only the new leader's reach the database", async () => {
    const url = await server.database();
    const pool = await openPool(url);
    const deposed: NotLeaderError[] = [];
    const old = await PgLeaderStore.open(pool, await claimTerm(pool, 'old'), (err) => deposed.push(err));
    const oldTasks = new TasksRepo(old.db);
    oldTasks.insert(task('before'));
    await old.flushed();

    const next = await PgLeaderStore.open(pool, await claimTerm(pool, 'new'), (err) => assert.fail(err.message));
    oldTasks.insert(task('late')); // the old leader has not noticed yet
    await assert.rejects(old.flushed(), (err) => err instanceof NotLeaderError);
    assert.equal(deposed.length, 1);
    new TasksRepo(next.db).insert(task('after'));
    await next.flushed();

    const copy = await loadCopy(pool);
    assert.deepEqual(new TasksRepo(copy.db).list(10).map((t) => t.id).sort(), ['after', 'before']);
    copy.db.close();
    await old.close();
    await next.close();
    await pool.end();
  });

  it("a standby's copy follows the leader's writes, deletes included, and hears each batch", async () => {
    const url = await server.database();
    const pools = [await openPool(url), await openPool(url)];
    const leader = await PgLeaderStore.open(pools[0]!, await claimTerm(pools[0]!, 'leader'), (err) => assert.fail(err.message));
    const heard: Change[] = [];
    const follower = await PgFollower.open(pools[1]!, (changes) => heard.push(...changes));
    try {
      const tasks = new TasksRepo(leader.db);
      tasks.insert(task('t1'));
      tasks.insert(task('t2'));
      tasks.update({ ...task('t1'), state: 'running', progress: 50 });
      await leader.flushed();
      const seen = new TasksRepo(follower.db);
      await waitFor('the standby to see both tasks', async () => {
        await follower.catchUp();
        return seen.list(10).length === 2;
      });
      assert.equal(seen.get('t1')?.progress, 50);
      assert.ok(heard.some((c) => c.tbl === 'tasks' && c.op === 'upsert'));
      leader.db.prepare('DELETE FROM tasks WHERE id = ?').run('t2');
      await leader.flushed();
      await waitFor('the delete to reach the standby', async () => {
        await follower.catchUp();
        return seen.get('t2') === undefined;
      });
    } finally {
      await follower.close();
      await leader.close();
      for (const p of pools as pg.Pool[]) await p.end();
    }
  });
});
