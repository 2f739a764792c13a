import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { HostInfo } from '../contracts/agent-api.js';
import { openCluster } from './cluster/index.js';
import { openDb } from './db.js';
import { EventBus } from './events.js';
import { EnrolmentService } from './enrolment/service.js';
import { HostMonitor } from './host-monitor.js';
import { TaskRunner } from './task-runner.js';
import { TasksRepo } from './tasks-repo.js';
import { createCa } from '../pki/index.js';
import { withDefaults } from '../contracts/vm-spec.js';
import type { GuardReport } from '../contracts/fence.js';

const info = (name: string): HostInfo => ({ name, site: 'main', url: `http://${name}`, cpus: 2, memoryMiB: 8192, accel: 'tcg', qemuVersion: '10', agentVersion: '0.1', pid: 1, loadAvg1: 0, memoryFreeMiB: 4000 });

function world(leased: Record<string, string[]>) {
  const db = openDb(':memory:');
  const bus = new EventBus();
  const { state, ...parts } = openCluster(db, new TaskRunner(new TasksRepo(db), bus), bus);
  const monitor = new HostMonitor(state, parts, 3000, undefined, { leaseMs: 4000, vms: (host) => leased[host] ?? [] });
  return { state, monitor };
}

describe('host monitor: the HA lease', () => {
  it('each reply leases what the callback names for that host, and is remembered as sent', async () => {
    const { monitor } = world({ h1: ['web'] });
    const before = performance.now();
    const r1 = await monitor.heartbeat({ host: info('h1'), vms: [] });
    assert.deepEqual(r1.fence, { leaseMs: 4000, vms: ['web'] });
    const sent = monitor.lastLease('h1')!;
    assert.deepEqual(sent.vms, ['web']);
    assert.ok(sent.at >= before && sent.at <= performance.now());
    const r2 = await monitor.heartbeat({ host: info('h2'), vms: [] });
    assert.equal(r2.fence, undefined, 'nothing to lease: no fence');
    assert.deepEqual(monitor.lastLease('h2')!.vms, [], 'an empty lease is remembered too: it ends the earlier one');
    assert.equal(monitor.lastLease('h3'), undefined);
  });

  it('after a restart every known host counts as just sent a lease, up or down', () => {
    const { state, monitor } = world({ h1: ['web'], h2: ['db'] });
    state.hosts.upsert({ info: info('h1'), state: 'up', lastSeen: 't', registeredAt: 't' });
    state.hosts.upsert({ info: info('h2'), state: 'down', lastSeen: 't', registeredAt: 't' });
    const before = performance.now();
    monitor.start(60_000);
    monitor.stop();
    for (const [h, vms] of [['h1', ['web']], ['h2', ['db']]] as const) {
      const sent = monitor.lastLease(h)!;
      assert.deepEqual(sent.vms, vms);
      assert.ok(sent.at >= before);
    }
  });

  it('without a lease source, replies carry no fence', async () => {
    const db = openDb(':memory:');
    const bus = new EventBus();
    const { state, ...parts } = openCluster(db, new TaskRunner(new TasksRepo(db), bus), bus);
    const monitor = new HostMonitor(state, parts, 3000);
    assert.deepEqual(await monitor.heartbeat({ host: info('h1'), vms: [] }), { intervalMs: 1000 });
    assert.equal(monitor.lastLease('h1'), undefined);
  });
});

describe('host monitor: the lease never depends on bookkeeping', () => {
  it('a failing database write (a full disk) still renews the lease', async () => {
    const { state, monitor } = world({ h1: ['web'] });
    state.hosts.upsert = () => {
      throw new Error('SQLITE_FULL: database or disk is full');
    };
    const r = await monitor.heartbeat({ host: info('h1'), vms: [] });
    assert.deepEqual(r.fence, { leaseMs: 4000, vms: ['web'] });
    assert.deepEqual(monitor.lastLease('h1')!.vms, ['web']);
  });

  it('a CSR that cannot be signed still renews the lease (the certificate comes another time)', async () => {
    const db = openDb(':memory:');
    const bus = new EventBus();
    const { state, ...parts } = openCluster(db, new TaskRunner(new TasksRepo(db), bus), bus);
    const enrolment = new EnrolmentService(db, await createCa('test ca'));
    const monitor = new HostMonitor(state, parts, 3000, enrolment, { leaseMs: 4000, vms: () => ['web'] });
    const r = await monitor.heartbeat({ host: info('h1'), vms: [], csr: 'not a CSR' });
    assert.deepEqual(r.fence, { leaseMs: 4000, vms: ['web'] });
    assert.equal(r.certificate, undefined);
  });

  it('naming the leased VMs fails: the last lease is renewed as it was', async () => {
    let fail = false;
    const db = openDb(':memory:');
    const bus = new EventBus();
    const { state, ...parts } = openCluster(db, new TaskRunner(new TasksRepo(db), bus), bus);
    const monitor = new HostMonitor(state, parts, 3000, undefined, {
      leaseMs: 4000,
      vms: () => {
        if (fail) throw new Error('SQLITE_IOERR');
        return ['web'];
      },
    });
    await monitor.heartbeat({ host: info('h1'), vms: [] });
    fail = true;
    assert.deepEqual((await monitor.heartbeat({ host: info('h1'), vms: [] })).fence, { leaseMs: 4000, vms: ['web'] });
  });
});

describe('host monitor: the controller\'s own stall is not the hosts\' silence', () => {
  it('a sweep far later than due restarts every silence clock and forgets the witnesses', async () => {
    const { state, monitor } = world({});
    await monitor.heartbeat({ host: info('h1'), vms: [] });
    await monitor.heartbeat({ host: info('h2'), vms: [], guard: { state: 'running', contacts: [], fenced: [] } });
    monitor.start(60_000); // no timer fires in this test: sweeps are driven by hand
    monitor.stop();
    const t0 = performance.now();
    monitor.sweep(t0 + 500);
    // Frozen for 20 s (SIGSTOP): the next sweep comes 20 s late.
    monitor.sweep(t0 + 20_500);
    assert.equal(monitor.stalls.length, 1);
    assert.ok(monitor.stalls[0]!.ms >= 19_000);
    assert.equal(state.hosts.get('h1')?.state, 'up', 'not marked down for our own pause');
    assert.equal(monitor.evidence('h1', t0 + 20_600).witnesses.find((w) => w.host === 'h2')?.fresh, false, 'reports from before the stall do not count');
    // Real silence after the stall still counts.
    monitor.sweep(t0 + 21_000);
    monitor.sweep(t0 + 21_500);
    monitor.sweep(t0 + 22_000);
    monitor.sweep(t0 + 22_500);
    monitor.sweep(t0 + 23_000);
    monitor.sweep(t0 + 23_600);
    assert.equal(state.hosts.get('h1')?.state, 'down', 'silent for 3 s after the stall');
  });
});

describe('host monitor: fence guards and stale copies', () => {
  it('replies name the other hosts\' guards, and heartbeats tell who hears whom', async () => {
    const { monitor } = world({ h1: ['web'] });
    const guard = (url: string, contacts: GuardReport['contacts'] = []): GuardReport => ({ state: 'running', url, contacts, fenced: [] });
    await monitor.heartbeat({ host: info('h1'), vms: [], guard: guard('http://g1') });
    const r2 = await monitor.heartbeat({ host: info('h2'), vms: [], guard: guard('http://g2', [{ host: 'h1', agoMs: 200, self: { agent: 'gone', vms: [] } }]) });
    assert.deepEqual(r2.peers, { hosts: 2, guards: [{ host: 'h1', url: 'http://g1' }] });
    const now = performance.now();
    const w = monitor.evidence('h1', now).witnesses;
    assert.equal(w.length, 1);
    assert.equal(w[0]!.host, 'h2');
    assert.equal(w[0]!.fresh, true);
    assert.ok(w[0]!.heardAt! <= now - 200, 'an age becomes a time no later than the contact could have been');
    assert.deepEqual(w[0]!.self, { agent: 'gone', vms: [] });
  });

  it('a running copy of a VM whose record is on another host is named in the reply, to be killed', async () => {
    const { state, monitor } = world({});
    const spec = withDefaults({ name: 'web', memoryMiB: 64 }, '00000000-0000-4000-8000-000000000001');
    state.insertVm({ name: 'web', uuid: spec.uuid, state: 'running', host: 'h2', site: 'dr', memoryMiB: 64, vcpus: 1, workload: 'idle', spec, endpoints: [], createdAt: 't', updatedAt: 't' });
    const r = await monitor.heartbeat({ host: info('h1'), vms: [{ name: 'web', uuid: spec.uuid, state: 'running', spec, endpoints: [] }] });
    assert.deepEqual(r.kill?.map((k) => [k.vm, k.uuid]), [['web', spec.uuid]]);
    assert.match(r.kill![0]!.reason, /runs on host h2 now/);
  });
});
