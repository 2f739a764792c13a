import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { HostInfo } from '../../contracts/agent-api.js';
import type { Host, Vm } from '../../contracts/controller-api.js';
import { withDefaults } from '../../contracts/vm-spec.js';
import { openDb } from '../db.js';
import { EventBus } from '../events.js';
import { TaskRunner } from '../task-runner.js';
import { TasksRepo } from '../tasks-repo.js';
import { HostViews } from './host-views.js';
import { openCluster } from './index.js';

const info = (name: string): HostInfo => ({ name, site: 'main', url: `http://${name}`, cpus: 2, memoryMiB: 8192, accel: 'tcg', qemuVersion: '10', agentVersion: '0.1', pid: 1, loadAvg1: 0, memoryFreeMiB: 4000 });
const MEASURED = { cpu: 0.25, net: 0.5, mem: 0.25, volume: 1 / (0.75 * 0.5 * 0.75) };

function world(hot: Set<string>) {
  const db = openDb(':memory:');
  const bus = new EventBus();
  const hostEvents: Host[] = [];
  bus.subscribe((m) => m.event.type === 'host' && hostEvents.push(m.event.host));
  const c = openCluster(db, new TaskRunner(new TasksRepo(db), bus), bus);
  for (const h of ['h1', 'h2']) c.state.hosts.upsert({ info: info(h), state: 'up', lastSeen: 't', registeredAt: 't' });
  const views = new HostViews({ state: c.state, bus, measured: (h) => (h === 'h1' ? MEASURED : undefined), isHot: (h) => hot.has(h) });
  const vm = (name: string, host: string): Vm => {
    const spec = withDefaults({ name, memoryMiB: 256 }, `00000000-0000-4000-8000-00000000000${name.length}`);
    return { name, uuid: spec.uuid, state: 'running', host, site: 'main', memoryMiB: 256, vcpus: 1, workload: 'idle', spec, endpoints: [], createdAt: 't', updatedAt: 't' };
  };
  return { ...c, views, hostEvents, vm };
}

describe('cluster records and host views', () => {
  it('a host\'s load is what the metrics measured, hot by the balancer\'s verdict', () => {
    const hot = new Set<string>();
    const { views } = world(hot);
    assert.deepEqual(views.load('h1'), { ...MEASURED, hot: false });
    hot.add('h1');
    assert.equal(views.load('h1')!.hot, true);
    assert.equal(views.load('h2'), undefined, 'nothing measured: no load');
    assert.deepEqual(views.list().map((h) => [h.name, h.load?.hot]), [['h1', true], ['h2', undefined]]);
  });

  it('a VM record change that moves allocation publishes the host with its usage', () => {
    const { state, views, hostEvents, vm } = world(new Set());
    state.insertVm(vm('web', 'h1'));
    assert.deepEqual(hostEvents.map((h) => [h.name, h.memoryAllocatedMiB, h.vmCount]), [['h1', 256, 1]]);
    state.updateVm('web', { host: 'h2' });
    assert.deepEqual(hostEvents.slice(1).map((h) => [h.name, h.memoryAllocatedMiB]), [['h1', 0], ['h2', 256]]);
    state.updateVm('web', { metrics: undefined });
    assert.equal(hostEvents.length, 3, 'a metrics-only update moves no allocation');
    state.removeVm('web', { tombstone: false });
    assert.deepEqual(hostEvents.slice(3).map((h) => [h.name, h.vmCount]), [['h2', 0]]);
    state.publishHost('nowhere');
    assert.equal(hostEvents.length, 4, 'an unknown host publishes nothing');
    assert.equal(views.list().length, 2);
  });

  it('a VM moving to a host is counted there too until its move ends', async () => {
    const { state, moves, views, vm } = world(new Set());
    state.insertVm(vm('web', 'h1'));
    let settle!: () => void;
    moves.reserveUntil('web', 'h2', new Promise<void>((r) => (settle = r)));
    assert.deepEqual(views.list().map((h) => h.memoryAllocatedMiB), [256, 256]);
    settle();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(views.list().map((h) => h.memoryAllocatedMiB), [256, 0]);
  });

  it('removing a VM with a tombstone remembers its uuid; applying a status notes its revision', () => {
    const { state, tombstones, revisions, vm } = world(new Set());
    const web = vm('web', 'h1');
    state.insertVm(web);
    state.applyStatus({ name: 'web', uuid: web.uuid, state: 'running', spec: web.spec, endpoints: [], rev: 7 });
    assert.equal(revisions.isStale('h1', { name: 'web', uuid: web.uuid, state: 'running', spec: web.spec, endpoints: [], rev: 6 }), true);
    state.removeVm('web', { tombstone: true });
    assert.equal(tombstones.recentlyRemoved(web.uuid), true);
  });
});
