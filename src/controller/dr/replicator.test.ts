import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { HostInfo } from '../../contracts/agent-api.js';
import type { Vm } from '../../contracts/controller-api.js';
import type { CheckpointRecord, Protection } from '../../contracts/dr.js';
import { withDefaults } from '../../contracts/vm-spec.js';
import { openCluster } from '../cluster/index.js';
import { openDb } from '../db.js';
import { EventBus, type BusMessage } from '../events.js';
import { TaskRunner } from '../task-runner.js';
import { TasksRepo } from '../tasks-repo.js';
import { Protections } from './protections.js';
import { Replicator } from './replicator.js';
import { DrRepo, RECORDS_KEPT } from './repo.js';

const NOW = Date.parse('2026-01-01T00:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();
const info = (name: string, site: string): HostInfo => ({ name, site, url: `http://${name}`, cpus: 2, memoryMiB: 8192, accel: 'tcg', qemuVersion: '10', agentVersion: '0.1', pid: 1, loadAvg1: 0, memoryFreeMiB: 4000, dataUrl: `ferry-wire://${name}` });

function world(clocks: { now: () => number; wall?: () => number } = { now: () => NOW }) {
  const db = openDb(':memory:');
  const bus = new EventBus();
  const events: BusMessage[] = [];
  bus.subscribe((m) => events.push(m));
  const { state } = openCluster(db, new TaskRunner(new TasksRepo(db), bus), bus);
  for (const [h, site] of [['h1', 'main'], ['h3', 'dr']] as const) state.hosts.upsert({ info: info(h, site), state: 'up', lastSeen: 't', registeredAt: 't' });
  const protections = new Protections(new DrRepo(db), bus, () => NOW);
  const protect = (name: string, o: Partial<Protection> = {}, vm: Partial<Vm> = {}) => {
    const spec = withDefaults({ name, memoryMiB: 64 }, `00000000-0000-4000-8000-00000000000${state.vms.list().length + 1}`);
    state.insertVm({ name, uuid: spec.uuid, state: 'running', host: 'h1', site: 'main', memoryMiB: 64, vcpus: 1, workload: 'idle', spec, endpoints: [], createdAt: 't', updatedAt: 't', ...vm });
    const p: Protection = { vm: name, uuid: spec.uuid, fromSite: 'main', toSite: 'dr', targetHost: 'h3', rpoMs: 30_000, keep: 3, state: 'syncing', checkpoints: 0, bytesSent: 0, createdAt: iso(NOW), updatedAt: iso(NOW), ...o };
    protections.create(p, { syncingSince: iso(NOW - 1000) });
  };
  const started: string[] = [];
  const pending = new Map<string, { ok: () => void; fail: (e: Error) => void }>();
  const record = (vm: string, seq: number): CheckpointRecord => ({ vm, seq, host: 'h3', takenAt: iso(NOW), committedAt: iso(NOW), pauseMs: 1, durationMs: 2000, memoryBytes: 1, diskBytes: 0, wireBytes: 100, newBytes: 100 });
  const rep = new Replicator(protections, state, (_row, vm, signal) => {
    started.push(vm.name);
    return new Promise<CheckpointRecord>((resolve, reject) => {
      signal.addEventListener('abort', () => reject(signal.reason as Error));
      pending.set(vm.name, {
        ok: () => {
          const r = record(vm.name, 1);
          protections.committed(r, true);
          resolve(r);
        },
        fail: reject,
      });
    });
  }, { concurrency: 2, ...clocks });
  const settle = () => new Promise((r) => setImmediate(r));
  return { db, state, protections, protect, rep, started, pending, events, settle };
}

describe('replication loop', () => {
  it('a step of the wall clock, back or forward an hour, moves no deadline: the schedule runs on the monotonic clock', () => {
    let wall = NOW;
    let mono = 5_000;
    const w = world({ now: () => mono, wall: () => wall });
    const last = (vm: string, agoMs: number): CheckpointRecord => ({ vm, seq: 1, host: 'h3', takenAt: iso(NOW - agoMs), committedAt: iso(NOW - agoMs), pauseMs: 0, durationMs: 100, memoryBytes: 0, diskBytes: 0, wireBytes: 0, newBytes: 0 });
    w.protect('back', { state: 'protected', lastCheckpoint: last('back', 10_000) });
    w.protect('ahead', { state: 'protected', lastCheckpoint: last('ahead', 10_000) });
    w.rep.tick();
    assert.deepEqual(w.started, [], 'both are 10 s old with an RPO of 30 s');
    wall -= 3_600_000; // stepped back: by the wall clock the newest checkpoints are from the future
    mono += 25_000;
    w.rep.tick();
    assert.deepEqual(w.started.sort(), ['ahead', 'back'], 'due 20 s after they were read, as before the step');
    const v = world({ now: () => mono, wall: () => wall });
    v.protect('fresh', { state: 'protected', lastCheckpoint: last('fresh', 3_600_000 - 5_000) }); // 5 s old on today's wall
    v.rep.tick();
    wall += 3_600_000; // stepped forward: by the wall clock it is an hour old
    mono += 1_000;
    v.rep.tick();
    assert.deepEqual(v.started, [], 'not due: 6 s old on the monotonic clock');
    assert.equal(v.protections.get('fresh').state, 'protected', 'no alarm for a jump of the wall clock');
  });

  it('one checkpoint per VM, at most `concurrency` at once', async () => {
    const w = world();
    for (const n of ['a', 'b', 'c']) w.protect(n);
    w.rep.tick(NOW);
    assert.deepEqual(w.started, ['a', 'b']);
    w.rep.tick(NOW);
    assert.deepEqual(w.started, ['a', 'b'], 'nothing new while two run');
    w.pending.get('a')!.ok();
    await w.settle();
    w.rep.tick(NOW);
    assert.deepEqual(w.started, ['a', 'b', 'c'], 'a is fresh now; c gets the free slot');
    const a = w.protections.get('a');
    assert.deepEqual([a.state, a.checkpoints, a.bytesSent, a.lastCheckpoint?.seq, a.ageMs], ['protected', 1, 100, 1, 0]);
    assert.ok(w.events.some((m) => m.event.type === 'dr.checkpoint'));
    await w.rep.close();
  });

  it('the most overdue protections get the slots first; one not yet due waits', () => {
    const w = world();
    w.protect('fresh', { state: 'protected', lastCheckpoint: { vm: 'fresh', seq: 1, host: 'h3', takenAt: iso(NOW - 29_000), committedAt: '', pauseMs: 0, durationMs: 100, memoryBytes: 0, diskBytes: 0, wireBytes: 0, newBytes: 0 } });
    w.protect('old', { state: 'protected', lastCheckpoint: { vm: 'old', seq: 1, host: 'h3', takenAt: iso(NOW - 60_000), committedAt: '', pauseMs: 0, durationMs: 100, memoryBytes: 0, diskBytes: 0, wireBytes: 0, newBytes: 0 } });
    w.protect('new');
    w.protect('newer');
    w.rep.tick(NOW);
    assert.deepEqual(w.started, ['old', 'new'], 'fresh is due only in a second; new and newer are due since they began syncing');
  });

  it('a failure is recorded and retried only after the backoff', async () => {
    const w = world();
    w.protect('a');
    w.rep.tick(NOW);
    w.pending.get('a')!.fail(Object.assign(new Error('cannot reach h3'), { code: 'HOST_DOWN' }));
    await w.settle();
    await w.settle();
    assert.equal(w.protections.get('a').lastError?.message, 'cannot reach h3');
    w.rep.tick(NOW + 500);
    assert.deepEqual(w.started, ['a']);
    w.rep.tick(NOW + 1000);
    assert.deepEqual(w.started, ['a', 'a']);
  });

  it('says what blocks a protection, in its alarm; failed-over protections are left alone', () => {
    const w = world();
    w.protect('p', {}, { state: 'paused' });
    w.protect('gone', { state: 'failed-over' });
    w.rep.tick(NOW);
    assert.deepEqual(w.started, []);
    assert.equal(w.protections.get('p').alarm?.reason, 'VM p is paused: checkpoints wait until it runs');
    assert.equal(w.protections.get('gone').alarm, undefined);
    const alarms = w.events.filter((m) => m.event.type === 'dr.alarm').map((m) => m.event);
    assert.deepEqual(alarms, [{ type: 'dr.alarm', vm: 'p', raised: true, reason: 'VM p is paused: checkpoints wait until it runs' }]);
    w.rep.tick(NOW);
    assert.equal(w.events.filter((m) => m.event.type === 'dr.alarm').length, 1, 'an unchanged alarm is not published again');
    w.state.updateVm('p', { state: 'running' });
    w.rep.tick(NOW);
    assert.deepEqual(w.started, ['p']);
    assert.equal(w.protections.get('p').alarm, undefined);
    assert.deepEqual(w.events.filter((m) => m.event.type === 'dr.alarm').at(-1)?.event, { type: 'dr.alarm', vm: 'p', raised: false });
  });

  it('a VM busy with another task (a migration) waits', () => {
    const w = world();
    w.protect('a');
    w.state.runner.submit({ kind: 'vm.migrate', target: 'vm/a' }, () => new Promise(() => {}));
    w.rep.tick(NOW);
    assert.deepEqual(w.started, []);
  });

  it('keeps the newest records per VM and knows the highest seq', () => {
    const w = world();
    w.protect('a');
    const repo = w.protections.repo;
    for (let seq = 1; seq <= RECORDS_KEPT + 5; seq++) repo.addCheckpoint({ vm: 'a', seq, host: 'h3', takenAt: '', committedAt: '', pauseMs: 0, durationMs: 0, memoryBytes: 0, diskBytes: 0, wireBytes: 0, newBytes: 0 });
    assert.equal(repo.checkpoints('a', 10_000).length, RECORDS_KEPT);
    assert.equal(repo.checkpoints('a', 1)[0]?.seq, RECORDS_KEPT + 5);
    assert.equal(repo.lastSeq('a'), RECORDS_KEPT + 5);
    assert.equal(repo.lastSeq('b'), undefined);
  });
});
