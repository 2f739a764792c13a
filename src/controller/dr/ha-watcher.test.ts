import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { HostInfo } from '../../contracts/agent-api.js';
import type { HaEvent, Protection } from '../../contracts/dr.js';
import { withDefaults } from '../../contracts/vm-spec.js';
import { vmTarget } from '../cluster-state.js';
import { openCluster } from '../cluster/index.js';
import { openDb } from '../db.js';
import { ConflictError, DrFailedError } from '../errors.js';
import { EventBus } from '../events.js';
import { TaskRunner } from '../task-runner.js';
import { TasksRepo } from '../tasks-repo.js';
import type { SentLease } from './ha.js';
import { HaWatcher } from './ha-watcher.js';
import { Protections } from './protections.js';
import { DrRepo } from './repo.js';

const LEASE = 5000;
const MARGIN = 2000;
const OUT = LEASE + MARGIN + 1; // lease sent at 0: surely out from here on
const info = (name: string, site: string): HostInfo => ({ name, site, url: `http://${name}`, cpus: 2, memoryMiB: 8192, accel: 'tcg', qemuVersion: '10', agentVersion: '0.1', pid: 1, loadAvg1: 0, memoryFreeMiB: 4000, dataUrl: `ferry-wire://${name}` });

function world() {
  const db = openDb(':memory:');
  const bus = new EventBus();
  const told: HaEvent[] = [];
  bus.subscribe((m) => m.event.type === 'dr.ha' && told.push(m.event));
  const { state } = openCluster(db, new TaskRunner(new TasksRepo(db), bus), bus);
  for (const [h, site] of [['h1', 'main'], ['h3', 'dr']] as const) state.hosts.upsert({ info: info(h, site), state: 'up', lastSeen: 't', registeredAt: 't' });
  const protections = new Protections(new DrRepo(db), bus);
  const protect = (name: string, o: Partial<Protection> = {}) => {
    const spec = withDefaults({ name, memoryMiB: 64 }, `00000000-0000-4000-8000-00000000000${state.vms.list().length + 1}`);
    state.insertVm({ name, uuid: spec.uuid, state: 'running', host: 'h1', site: 'main', memoryMiB: 64, vcpus: 1, workload: 'idle', spec, endpoints: [], createdAt: 't', updatedAt: 't' });
    protections.create({ vm: name, uuid: spec.uuid, fromSite: 'main', toSite: 'dr', targetHost: 'h3', rpoMs: 30_000, keep: 3, ha: true, state: 'protected', checkpoints: 1, bytesSent: 0, createdAt: 't', updatedAt: 't', ...o }, { syncingSince: 't' });
  };
  const leases = new Map<string, SentLease>([['h1', { at: 0, vms: ['web'] }]]);
  const calls: { vm: string; reason: string }[] = [];
  let finish = (_err?: Error) => {};
  let refuse: Error | undefined;
  let clock = 0;
  const ha = new HaWatcher(
    {
      protections, state, bus,
      lastLease: (h) => leases.get(h),
      // h3 heartbeats and its guard has not heard h1: h1 is cut off once its lease is out.
      evidence: () => ({ hosts: 2, witnesses: [{ host: 'h3', fresh: true, guard: 'running' }] }),
      busy: (vm) => (state.runner.busyWith(vmTarget(vm)) ? 'a task' : undefined),
      failover: (vm, reason) => {
        calls.push({ vm, reason });
        if (refuse) throw refuse;
        return state.runner.submit({ kind: 'dr.failover', target: vmTarget(vm) }, () => new Promise((resolve, reject) => (finish = (err) => (err ? reject(err) : resolve(undefined)))));
      },
    },
    { leaseMs: LEASE, marginMs: MARGIN, now: () => clock },
  );
  /** One pass of the loop at monotonic time `t`. */
  const at = (t: number) => {
    clock = t;
    ha.tick();
  };
  const hostDown = () => state.hosts.setState('h1', 'down');
  const settle = async () => {
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  };
  return { state, protections, protect, leases, calls, at, told, hostDown, settle, finish: (err?: Error) => finish(err), refuse: (e: Error | undefined) => (refuse = e) };
}

describe('high availability loop', () => {
  it('waits out the lease, then fails over once, telling each step once', async () => {
    const w = world();
    w.protect('web');
    w.at(OUT);
    assert.deepEqual([w.calls, w.told], [[], []], 'host up: nothing to do, nothing to say');
    w.hostDown();
    for (const t of [100, 1000, LEASE + MARGIN]) w.at(t);
    assert.equal(w.calls.length, 0, 'never within lease + margin');
    assert.deepEqual(w.told.map((e) => [e.action, e.vm, e.host]), [['waiting', 'web', 'h1']]);
    w.at(OUT);
    assert.equal(w.calls.length, 1);
    assert.match(w.calls[0]!.reason, /host h1 of VM web is down and its lease ran out/);
    const started = w.told.at(-1)!;
    assert.deepEqual([started.action, started.reason], ['failover', w.calls[0]!.reason]);
    assert.equal(typeof started.taskId, 'string');
    for (const t of [OUT + 10, OUT + 60_000]) w.at(t);
    assert.equal(w.calls.length, 1, 'not again while its failover runs');
    assert.equal(w.told.length, 2);
    w.protections.change('web', (r) => ({ ...r, protection: { ...r.protection, state: 'failed-over' } }));
    await w.settle(); // the task's work has started
    w.finish();
    await w.settle();
    w.at(OUT + 60_000);
    assert.deepEqual([w.calls.length, w.told.length], [1, 2], 'failed over: done');
  });

  it('does nothing when the host comes back before the lease has run out', () => {
    const w = world();
    w.protect('web');
    w.hostDown();
    w.at(1000);
    w.state.hosts.setState('h1', 'up');
    w.leases.set('h1', { at: 1500, vms: ['web'] });
    for (const t of [OUT, OUT + 60_000]) w.at(t);
    assert.deepEqual(w.calls, []);
    assert.deepEqual(w.told.map((e) => e.action), ['waiting']);
  });

  it('leaves alone a VM the last reply did not lease, and says so', () => {
    const w = world();
    w.protect('web');
    w.protect('db');
    w.protect('off', { ha: false });
    w.hostDown();
    for (const t of [OUT, OUT + 1000]) w.at(t);
    assert.deepEqual(w.calls.map((c) => c.vm), ['web']);
    assert.deepEqual(w.told.filter((e) => e.vm !== 'web').map((e) => [e.vm, e.action]), [['db', 'blocked']]);
    assert.match(w.told.find((e) => e.vm === 'db')!.reason, /no lease on the VM was sent to it.*fail over by hand/);
  });

  it('retries a refused or failed failover after a growing backoff', async () => {
    const w = world();
    w.protect('web');
    w.hostDown();
    w.refuse(new ConflictError('vm/web is busy'));
    w.at(OUT);
    assert.equal(w.calls.length, 1);
    assert.match(w.told.at(-1)!.reason, /but the failover was refused: vm\/web is busy/);
    w.at(OUT + 500);
    assert.equal(w.calls.length, 1, 'backing off (1 s)');
    w.refuse(undefined);
    w.at(OUT + 1001);
    assert.equal(w.calls.length, 2);
    await w.settle();
    w.finish(new DrFailedError('CHECK_FAILED', 'heartbeat: none within 30 s'));
    await w.settle();
    const failedAt = w.told.length;
    w.at(OUT + 1002);
    assert.equal(w.calls.length, 2, 'backing off after the failed task');
    assert.match(w.told.at(failedAt)?.reason ?? '', /the last failover failed, next try in/);
  });
});
