import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { HostInfo } from '../../contracts/agent-api.js';
import type { BalanceDecision } from '../../contracts/balance.js';
import type { MigrateRequest, MigrationRecord } from '../../contracts/migration.js';
import type { VmPoint } from '../../contracts/metrics.js';
import { withDefaults } from '../../contracts/vm-spec.js';
import { vmTarget } from '../cluster-state.js';
import { openCluster } from '../cluster/index.js';
import { openDb } from '../db.js';
import { InvalidRequestError, NotFoundError } from '../errors.js';
import { EventBus } from '../events.js';
import type { MigrateReply } from '../migration/service.js';
import { TaskRunner } from '../task-runner.js';
import { TasksRepo } from '../tasks-repo.js';
import { BalanceRepo } from './decisions-repo.js';
import { BalanceService } from './service.js';

const info = (name: string): HostInfo => ({ name, site: 'main', url: `http://${name}`, cpus: 2, memoryMiB: 8192, accel: 'tcg', qemuVersion: '10', agentVersion: '0.1', pid: 1, loadAvg1: 0, memoryFreeMiB: 4000 });

/** h1 runs a and b (0.9 cores each) and c (idle); h2 is empty. Migrations are fakes that move the record. */
function world(opts: { failFirst?: boolean } = {}) {
  const db = openDb(':memory:');
  const bus = new EventBus();
  const events: BalanceDecision[] = [];
  bus.subscribe((m) => m.event.type === 'balance.decision' && events.push(m.event.decision));
  const { state, moves } = openCluster(db, new TaskRunner(new TasksRepo(db), bus), bus);
  for (const h of ['h1', 'h2']) state.hosts.upsert({ info: info(h), state: 'up', lastSeen: 't', registeredAt: 't' });
  const cores: Record<string, number> = { a: 0.9, b: 0.9, c: 0.01 };
  for (const [i, name] of ['a', 'b', 'c'].entries()) {
    const spec = withDefaults({ name, memoryMiB: 256 }, `00000000-0000-4000-8000-00000000000${i + 1}`);
    state.insertVm({ name, uuid: spec.uuid, state: 'running', host: 'h1', site: 'main', memoryMiB: 256, vcpus: 1, workload: 'cpu', spec, endpoints: [], createdAt: 't', updatedAt: 't' });
  }
  const records: MigrationRecord[] = [];
  let failures = opts.failFirst ? 1 : 0;
  const migrate = async (name: string, req: MigrateRequest): Promise<MigrateReply> => {
    const vm = state.requireVm(name);
    const task = state.runner.submit({ kind: 'vm.migrate', target: vmTarget(name) }, async () => {
      const rec = { id: `m${records.length + 1}`, vm: name, from: vm.host, to: req.to, outcome: 'succeeded', startedAt: new Date().toISOString(), wireBytes: 300 << 20, totalMs: 1500, downtimeMs: 20 } as MigrationRecord;
      if (failures > 0) {
        failures--;
        records.unshift({ ...rec, outcome: 'failed' });
        throw new Error('the target agent went away');
      }
      records.unshift(rec);
      state.updateVm(name, { host: req.to });
      return rec;
    });
    return { status: 202, task };
  };
  const now = Date.now();
  const load = {
    vmSeries: (name: string, windowMs: number, stepMs = 1000) => {
      if (!(name in cores)) throw new NotFoundError(`VM ${name}`);
      const points: VmPoint[] = [];
      for (let t = now - windowMs + stepMs / 2; t < now; t += stepMs) points.push({ t, cpuCores: cores[name]!, rssMiB: 200, diskReadBps: 0, diskWriteBps: 0, netRxBps: 0, netTxBps: 0, samples: 1 });
      return { kind: 'vm' as const, name, stepMs, from: now - windowMs, to: now, points };
    },
  };
  const svc = new BalanceService({ state, moves, migrations: { migrate, records: { list: () => records } }, repo: new BalanceRepo(db), bus, load, drHold: () => undefined });
  svc.updateConfig({ policy: { threshold: 0.6, k: 3, n: 5, cooldownMs: 60_000, maxMoves: 1 }, sampleMs: 2000 });
  return { svc, state, events, records, cores };
}

describe('balance service', () => {
  it('status: the crowded host is hot by k of n, the empty one is not', () => {
    const { svc } = world();
    const s = svc.status();
    const h1 = s.hosts.find((h) => h.name === 'h1')!;
    assert.equal(h1.hot, true);
    assert.ok(h1.load.cpu > 0.9 && h1.overThreshold >= 3, JSON.stringify(h1));
    assert.equal(s.hosts.find((h) => h.name === 'h2')!.hot, false);
    assert.ok(s.imbalance > 0);
    assert.equal(svc.isHot('h1'), true);
  });

  it('apply: moves one burning VM to the empty host, logs why, and the hotspot is gone', async () => {
    const { svc, state, events } = world();
    const plan = svc.plan();
    assert.equal(plan.moves.length, 1);
    assert.ok(['a', 'b'].includes(plan.moves[0]!.vm));
    const task = svc.apply();
    const done = await state.runner.settled(task.id);
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    const moved = plan.moves[0]!.vm;
    assert.equal(state.requireVm(moved).host, 'h2');
    assert.deepEqual(events.map((e) => e.kind), ['plan', 'move-started', 'move-done']);
    assert.match(events[1]!.reason, /h1/);
    assert.match(events[2]!.reason, /300\.0 MiB on the wire/);
    assert.ok(events.every((e) => e.taskId === task.id && e.trigger === 'apply'));
    assert.equal(svc.status().hosts.some((h) => h.hot), false, 'profiles follow the VMs: no stale hotspot');
    assert.deepEqual(svc.decisions(10).map((d) => d.kind), ['move-done', 'move-started', 'plan']);
    assert.equal(svc.plan().moves.length, 0, 'nothing more to do');
  });

  it('a failed move re-plans: the VM that failed cools down and another one moves', async () => {
    const { svc, state, events } = world({ failFirst: true });
    const first = svc.plan().moves[0]!.vm;
    const done = await state.runner.settled(svc.apply().id);
    assert.equal(done.state, 'succeeded');
    assert.deepEqual(events.map((e) => e.kind), ['plan', 'move-started', 'move-failed', 'replan', 'move-started', 'move-done']);
    assert.match(events[2]!.reason, /the target agent went away; .* keeps running on h1/);
    assert.match(events[3]!.reason, new RegExp(`the move of ${first} to h2 failed`));
    assert.equal(state.requireVm(first).host, 'h1', 'the failed VM stays at its source');
    assert.notEqual(events[4]!.vm, first);
  });

  it('auto mode: a round runs when there is something to do, and logs a hotspot nothing can fix once', async () => {
    const { svc, state, events, cores } = world();
    svc.tick();
    assert.equal(events.length, 0, 'auto is off');
    svc.updateConfig({ auto: true });
    svc.tick();
    const run = state.runner.busyWith('balance');
    assert.ok(run, 'a run started');
    await state.runner.settled(run.id);
    assert.equal(events.filter((e) => e.kind === 'move-done' && e.trigger === 'auto').length, 1);
    // One VM alone over the threshold: moving it would only move the hotspot.
    const n = events.length;
    cores.c = 1.9;
    svc.tick();
    svc.tick();
    const skipped = events.slice(n);
    assert.equal(skipped.length, 1, JSON.stringify(skipped));
    assert.equal(skipped[0]!.kind, 'skipped');
    assert.match(skipped[0]!.reason, /hot: h1/);
    svc.close();
  });

  it('density mode lists empty hosts for power-off, but not one that holds a VM it may not move', () => {
    const { svc, state } = world();
    svc.updateConfig({ policy: { mode: 'density', threshold: 0.99 } });
    assert.deepEqual(svc.status().powerOff, ['h2']);
    const spec = withDefaults({ name: 'p', memoryMiB: 64 }, '00000000-0000-4000-8000-000000000009');
    state.insertVm({ name: 'p', uuid: spec.uuid, state: 'paused', host: 'h2', site: 'main', memoryMiB: 64, vcpus: 1, workload: 'idle', spec, endpoints: [], createdAt: 't', updatedAt: 't' });
    const plan = svc.plan();
    assert.deepEqual(plan.powerOff, []);
    assert.ok(plan.notes.some((n) => /h2 is not to be powered off: it holds p/.test(n)), JSON.stringify(plan.notes));
  });

  it('config: a patch is checked as a whole and persisted', () => {
    const { svc } = world();
    assert.throws(() => svc.updateConfig({ policy: { k: 9 } }), (e: unknown) => e instanceof InvalidRequestError && /body\.policy\.k/.test(e.message));
    assert.throws(() => svc.updateConfig({ policy: { rules: [{ kind: 'apart', vms: ['a', 'a'] }] } }), /names a VM twice/);
    const c = svc.updateConfig({ maxConcurrent: 3, policy: { mode: 'density' } });
    assert.equal(c.maxConcurrent, 3);
    assert.equal(c.policy.k, 3, 'other policy fields kept');
  });
});
