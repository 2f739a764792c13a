import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { HostInfo } from '../../contracts/agent-api.js';
import type { Vm } from '../../contracts/controller-api.js';
import type { VmPoint } from '../../contracts/metrics.js';
import type { MigrationRecord } from '../../contracts/migration.js';
import type { HostRecord } from '../hosts-repo.js';
import { DEFAULT_CONFIG } from './config.js';
import { buildSnapshots } from './snapshot.js';

const NOW = 1_000_000;
const host = (name: string, site = 'main', up = true): HostRecord => ({
  info: { name, site, url: '', cpus: 4, memoryMiB: 8192, accel: 'tcg', qemuVersion: '', agentVersion: '', pid: 1, loadAvg1: 0, memoryFreeMiB: 0, netBytesPerSec: 1e8 } satisfies HostInfo,
  state: up ? 'up' : 'down',
  lastSeen: '',
  registeredAt: '',
});
const vm = (name: string, h: string, state: Vm['state'] = 'running', memoryMiB = 1024): Vm =>
  ({ name, uuid: name, state, host: h, site: 'main', memoryMiB, vcpus: 1, workload: 'idle', spec: { nics: [{ network: 'user' }] }, endpoints: [], createdAt: '', updatedAt: '' }) as unknown as Vm;
const pt = (t: number, cpuCores: number, net = 0): VmPoint => ({ t, cpuCores, rssMiB: 100, diskReadBps: 0, diskWriteBps: 0, netRxBps: net, netTxBps: 0, samples: 1 });

const cfg = { ...DEFAULT_CONFIG, sampleMs: 10_000, policy: { ...DEFAULT_CONFIG.policy, n: 3, k: 2 } };
const from = NOW - 30_000;

describe('balance snapshot', () => {
  it("rebuilds a host's samples from the VMs on it now, bucket by bucket", () => {
    const points: Record<string, VmPoint[]> = {
      a: [pt(from, 2), pt(from + 10_000, 3), pt(from + 20_000, 4, 5e7)],
      b: [pt(from + 10_000, 1)],
    };
    const s = buildSnapshots({
      hosts: [host('h1'), host('h2')], vms: [vm('a', 'h1'), vm('b', 'h1')], config: cfg,
      vmPoints: (name) => points[name] ?? [], pinned: () => undefined, migrations: [], nowMs: NOW,
    });
    const h1 = s.sites[0]!.snapshot.hosts.find((h) => h.name === 'h1')!;
    assert.deepEqual(h1.samples.map((u) => u.cpu), [0.5, 1, 1]);
    assert.deepEqual(h1.samples.map((u) => u.net), [0, 0, 0.5]);
    assert.equal(h1.samples[0]!.mem, 2048 / 8192);
    const h2 = s.sites[0]!.snapshot.hosts.find((h) => h.name === 'h2')!;
    assert.deepEqual(h2.samples, [], 'no VM, no sample');
    const a = s.sites[0]!.snapshot.vms.find((v) => v.name === 'a')!;
    assert.equal(a.cpuCores, 3);
    assert.equal(a.netBytesPerSec, 5e7 / 3);
  });

  it('leaves pinned and non-running VMs out, taking their memory off the host', () => {
    const s = buildSnapshots({
      hosts: [host('h1')], vms: [vm('a', 'h1'), vm('p', 'h1', 'paused', 2048), vm('d', 'h1'), vm('s', 'h1', 'stopped', 4096)], config: cfg,
      vmPoints: () => [pt(from, 1)], pinned: (v) => (v.name === 'd' ? 'a DR checkpoint of it is in flight' : undefined), migrations: [], nowMs: NOW,
    });
    const site = s.sites[0]!;
    assert.deepEqual(site.snapshot.vms.map((v) => v.name), ['a']);
    assert.equal(site.snapshot.hosts[0]!.memoryMiB, 8192 - 2048 - 1024);
    assert.deepEqual(site.pinned.map((p) => `${p.vm}: ${p.reason}`).sort(), ['d: a DR checkpoint of it is in flight', 'p: it is paused']);
    assert.equal(site.snapshot.hosts[0]!.samples[0]!.cpu, 3 / 4, "pinned VMs' load stays in the profile");
  });

  it('splits hosts by site and turns migration records into history', () => {
    const rec = { vm: 'a', startedAt: new Date(NOW - 5000).toISOString(), outcome: 'succeeded', wireBytes: 10, totalMs: 20 } as MigrationRecord;
    const s = buildSnapshots({ hosts: [host('d1', 'dr'), host('h1'), host('h2', 'main', false)], vms: [], config: cfg, vmPoints: () => [], pinned: () => undefined, migrations: [rec], nowMs: NOW });
    assert.deepEqual(s.sites.map((x) => [x.site, x.snapshot.hosts.map((h) => `${h.name}:${h.up}`)]), [['dr', ['d1:true']], ['main', ['h1:true', 'h2:false']]]);
    assert.deepEqual(s.history.migrations, [{ vm: 'a', atMs: NOW - 5000, succeeded: true, wireBytes: 10, totalMs: 20 }]);
  });
});
