import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { BalanceMove } from '../../contracts/balance.js';
import type { Task } from '../../contracts/controller-api.js';
import { execute, type ExecutorIo } from './executor.js';

const move = (vm: string, from: string, to: string): BalanceMove => ({
  vm, from, to, kind: 'move', reason: 'test',
  gain: { fromVolumeBefore: 2, fromVolumeAfter: 1, imbalanceBefore: 1, imbalanceAfter: 0.5 },
  cost: { bytes: 1, seconds: 1, learned: false },
});

/** Migrations that finish when the test says so; records the order of starts and what ran at once. */
function fakeIo(fail: Set<string> = new Set(), refuse: Set<string> = new Set()) {
  const started: string[] = [];
  const events: string[] = [];
  let live = 0;
  let maxLive = 0;
  const finishers = new Map<string, () => void>();
  const io: ExecutorIo = {
    async migrate(m) {
      if (refuse.has(m.vm)) throw new Error(`no room for ${m.vm}`);
      started.push(m.vm);
      live++;
      maxLive = Math.max(maxLive, live);
      return { id: m.vm, kind: 'vm.migrate', target: `vm/${m.vm}`, state: 'running', progress: 0, message: '', createdAt: '' } satisfies Task;
    },
    settled: (id) =>
      new Promise<Task>((resolve) =>
        finishers.set(id, () => {
          live--;
          const ok = !fail.has(id);
          resolve({
            id, kind: 'vm.migrate', target: `vm/${id}`, state: ok ? 'succeeded' : 'failed', progress: 100, message: '', createdAt: '',
            ...(ok ? { result: { id: `mig-${id}`, outcome: 'succeeded', totalMs: 1000, wireBytes: 5, downtimeMs: 10 } } : { error: { code: 'MIGRATION_FAILED', message: `${id} broke` } }),
          });
        }),
      ),
    abortTask: (id) => events.push(`abort ${id}`),
    started: (m) => events.push(`start ${m.vm}`),
    finished: (m) => events.push(`done ${m.vm}`),
    failed: (m, why) => events.push(`fail ${m.vm}: ${why}`),
  };
  /** Finishes whatever runs, in start order, until nothing runs; returns the execution's result. */
  const drive = async <T>(p: Promise<T>): Promise<T> => {
    let settled = false;
    void p.finally(() => (settled = true));
    while (!settled) {
      await new Promise((r) => setImmediate(r));
      const next = started.find((vm) => finishers.has(vm));
      if (next) {
        const f = finishers.get(next)!;
        finishers.delete(next);
        f();
      }
    }
    return p;
  };
  return { io, started, events, drive, maxLive: () => maxLive };
}

describe('balance executor', () => {
  it('runs moves on disjoint hosts side by side, up to the limit', async () => {
    const f = fakeIo();
    const moves = [move('a', 'h1', 'h2'), move('b', 'h3', 'h4'), move('c', 'h5', 'h6')];
    const r = await f.drive(execute(moves, f.io, 2, new AbortController().signal));
    assert.deepEqual(r.done.map((m) => m.vm).sort(), ['a', 'b', 'c']);
    assert.equal(f.maxLive(), 2);
  });

  it('keeps list order between moves that share a host (a swap: b leaves h2 before a arrives)', async () => {
    const f = fakeIo();
    const moves = [move('b', 'h2', 'h3'), move('a', 'h1', 'h2'), move('c', 'h3', 'h4')];
    const r = await f.drive(execute(moves, f.io, 4, new AbortController().signal));
    assert.deepEqual(f.started, ['b', 'a', 'c']);
    const at = (e: string): number => f.events.indexOf(e);
    assert.ok(at('done b') < at('start a'), 'a waits for b to leave h2');
    assert.ok(at('done b') < at('start c'), 'c waits for b to leave h3');
    assert.equal(f.maxLive(), 2, 'a and c share no host, so they run side by side');
    assert.equal(r.failed, undefined);
  });

  it('stops starting moves after a failure and reports what was skipped', async () => {
    const f = fakeIo(new Set(['a']));
    const moves = [move('a', 'h1', 'h2'), move('b', 'h2', 'h3'), move('c', 'h1', 'h4')];
    const r = await f.drive(execute(moves, f.io, 1, new AbortController().signal));
    assert.equal(r.failed?.move.vm, 'a');
    assert.match(r.failed.why, /a broke/);
    assert.deepEqual(r.skipped.map((m) => m.vm), ['b', 'c']);
    assert.deepEqual(f.started, ['a']);
  });

  it('a migration refused at once counts as a failure', async () => {
    const f = fakeIo(new Set(), new Set(['a']));
    const r = await f.drive(execute([move('a', 'h1', 'h2'), move('b', 'h3', 'h4')], f.io, 1, new AbortController().signal));
    assert.match(r.failed?.why ?? '', /no room for a/);
    assert.deepEqual(r.skipped.map((m) => m.vm), ['b']);
    assert.ok(f.events.some((e) => e.startsWith('fail a')));
  });

  it('an abort stops new starts and aborts the running migrations', async () => {
    const f = fakeIo();
    const ac = new AbortController();
    const p = execute([move('a', 'h1', 'h2'), move('b', 'h1', 'h3')], f.io, 1, ac.signal);
    await new Promise((r) => setImmediate(r));
    ac.abort();
    const r = await f.drive(p);
    assert.ok(f.events.includes('abort a'));
    assert.deepEqual(r.skipped.map((m) => m.vm), ['b']);
  });
});
