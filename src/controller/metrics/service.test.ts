import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HostInfo } from '../../contracts/agent-api.js';
import type { AgentHeartbeat } from '../../contracts/controller-api.js';
import { FerryError } from '../../contracts/errors.js';
import type { VmStatus } from '../../contracts/vm-spec.js';
import { openDb } from '../db.js';
import { MetricsService } from './service.js';
import { MetricsStore } from './store.js';

const T0 = 1_800_000_000_000; // a bucket boundary of every tier
const info = (t: number): HostInfo => ({ name: 'h1', site: 'main', url: 'u', cpus: 2, memoryMiB: 1000, accel: 'tcg', qemuVersion: '10', agentVersion: '0', pid: 1, loadAvg1: 0, memoryFreeMiB: 500, sampledAtMs: t, netBytesPerSec: 1000 });
const vm = (name: string, t: number, cpuSeconds: number): VmStatus => ({
  name, uuid: name, state: 'running', endpoints: [], spec: {} as VmStatus['spec'],
  metrics: { cpuSeconds, rssBytes: 1 << 20, diskReadBytes: 0, diskWriteBytes: 0, diskReadOps: 0, diskWriteOps: 0, netRxBytes: t / 2, netTxBytes: 0, sampledAtMs: t },
});
const hb = (t: number, vms: VmStatus[]): AgentHeartbeat => ({ host: info(t), vms });

function service(clock: { now: number }, store?: MetricsStore, records: Record<string, string> = { web: 'h1' }) {
  return new MetricsService({
    vmHost: (n) => records[n],
    isHost: (n) => n === 'h1',
    usage: () => ({ memoryAllocatedMiB: 250, vmCount: 1 }),
    store,
    now: () => clock.now,
  });
}

/** `seconds` heartbeats, one a second, from T0; web uses `cores` of CPU. */
function feed(m: MetricsService, clock: { now: number }, seconds: number, cores = 0.5, from = T0, cpu0 = 0) {
  for (let i = 0; i <= seconds; i++) {
    clock.now = from + i * 1000;
    m.ingest(hb(clock.now, [vm('web', clock.now, cpu0 + i * cores)]));
  }
}

describe('metrics service', () => {
  it('rates, current load and host utilisation from heartbeats', () => {
    const clock = { now: T0 };
    const m = service(clock);
    feed(m, clock, 5);
    assert.deepEqual(m.vmLoad('web'), { cpuCores: 0.5, rssMiB: 1, diskBps: 0, netBps: 500 });
    // Whether it is hot is the balancer's verdict, added by the host views (cluster/host-views.test.ts).
    assert.deepEqual(m.hostLoad('h1'), { cpu: 0.25, net: 0.5, mem: 0.25, volume: 1 / (0.75 * 0.5 * 0.75) });
    const s = m.vmSeries('web', 60_000);
    assert.equal(s.stepMs, 0);
    assert.equal(s.points.length, 5, 'five rates from six samples');
    m.hostDown('h1');
    assert.equal(m.hostLoad('h1'), undefined, 'a down host has no current load');
  });

  it('only VMs of record on the reporting host are sampled', () => {
    const clock = { now: T0 };
    const m = service(clock, undefined, { web: 'h2' });
    feed(m, clock, 3);
    assert.equal(m.vmLoad('web'), undefined);
    assert.deepEqual(m.vmSeries('web', 60_000).points, []);
    assert.throws(() => m.vmSeries('nope', 60_000), (e: unknown) => e instanceof FerryError && e.code === 'NOT_FOUND');
    assert.throws(() => m.hostSeries('h9', 60_000), (e: unknown) => e instanceof FerryError && e.code === 'NOT_FOUND');
  });

  it('vmMean and hostProfile average what the window holds', () => {
    const clock = { now: T0 };
    const m = service(clock);
    feed(m, clock, 30, 0.5);
    feed(m, clock, 30, 1.5, T0 + 31_000, 16.5);
    const now = T0 + 61_000;
    assert.equal(m.vmMean('web', 20_000, now)!.cpuCores, 1.5);
    assert.equal(m.vmMean('web', 5000, T0 + 20_000)!.cpuCores, 0.5);
    const prof = m.hostProfile('h1', 10_000, 4, now);
    assert.equal(prof.length, 4);
    assert.deepEqual(prof.map((u) => u.cpu), [0.75, 0.75, 0.75, 0.75]);
    const long = m.hostProfile('h1', 20_000, 10, now);
    assert.equal(long.length, 4, 'only buckets with data');
    assert.ok(long[0]!.cpu < long[3]!.cpu, 'oldest first');
  });

  it('coarse tiers survive a restart (write, reopen the database, query 1h)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-metrics-'));
    try {
      const clock = { now: T0 };
      let db = openDb(join(dir, 'ferry.db'));
      let m = service(clock, new MetricsStore(db));
      feed(m, clock, 95);
      m.close();
      db.close();

      db = openDb(join(dir, 'ferry.db'));
      const rows = db.prepare("SELECT step_ms, count(*) n FROM metric_points WHERE kind = 'vm' GROUP BY step_ms ORDER BY step_ms").all();
      assert.deepEqual(rows, [{ step_ms: 10_000, n: 10 }, { step_ms: 300_000, n: 1 }]);
      clock.now = T0 + 30 * 60_000;
      m = service(clock, new MetricsStore(db));
      const s = m.vmSeries('web', 3_600_000);
      assert.equal(s.stepMs, 10_000);
      assert.equal(s.points.length, 10);
      assert.equal(s.points[0]!.cpuCores, 0.5);
      assert.equal(s.points.reduce((n, p) => n + p.samples, 0), 95);
      assert.equal(m.hostSeries('h1', 86_400_000).points[0]!.samples, 96);
      // Retention: a day later the 10 s buckets are pruned, the 5 min one stays.
      clock.now = T0 + 86_400_000;
      m.tick();
      assert.deepEqual(db.prepare('SELECT step_ms FROM metric_points WHERE kind = ?').all('vm'), [{ step_ms: 300_000 }]);
      db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('forgets a VM no longer of record once its raw points are old', () => {
    const clock = { now: T0 };
    const records: Record<string, string> = { web: 'h1' };
    const m = service(clock, undefined, records);
    feed(m, clock, 3);
    delete records.web;
    m.tick(T0 + 60_000);
    assert.deepEqual(m.vmNames(), ['web']);
    m.tick(T0 + 11 * 60_000);
    assert.deepEqual(m.vmNames(), []);
  });
});
