import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { HostInfo } from '../contracts/agent-api.js';
import { openCluster } from './cluster/index.js';
import { openDb } from './db.js';
import { EventBus } from './events.js';
import { HostMonitor } from './host-monitor.js';
import { TaskRunner } from './task-runner.js';
import { TasksRepo } from './tasks-repo.js';

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
