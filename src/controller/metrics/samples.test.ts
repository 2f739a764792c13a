import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { HostInfo } from '../../contracts/agent-api.js';
import type { VmMetrics } from '../../contracts/vm-spec.js';
import { DEFAULT_NET_BYTES_PER_SEC, hostPoint, vmPoint, type VmSample } from './samples.js';

const MIB = 1024 * 1024;
const m = (cpuSeconds: number, o: Partial<VmMetrics> = {}): VmMetrics => ({
  cpuSeconds, rssBytes: 256 * MIB, diskReadBytes: 0, diskWriteBytes: 0, diskReadOps: 0, diskWriteOps: 0, netRxBytes: 0, netTxBytes: 0, ...o,
});
const s = (t: number, metrics: VmMetrics, host = 'h1'): VmSample => ({ t, host, m: metrics });

describe('metrics: rates between samples', () => {
  const cases: { name: string; prev?: VmSample; cur: VmSample; cpuCores?: number }[] = [
    { name: 'first sample: no rate', cur: s(1000, m(5)) },
    { name: 'one second, half a core', prev: s(1000, m(5)), cur: s(2000, m(5.5)), cpuCores: 0.5 },
    { name: 'two seconds, two cores', prev: s(1000, m(5)), cur: s(3000, m(9)), cpuCores: 2 },
    { name: 'counter backwards (VM restarted): start over', prev: s(1000, m(5)), cur: s(2000, m(0.1)) },
    { name: 'disk counter backwards: start over', prev: s(1000, m(5, { diskReadBytes: 100 })), cur: s(2000, m(6)) },
    { name: 'gap over 10 s: no rate across it', prev: s(1000, m(5)), cur: s(12_001, m(6)) },
    { name: 'same time twice: no rate', prev: s(1000, m(5)), cur: s(1000, m(5)) },
    { name: 'moved host: start over', prev: s(1000, m(5), 'h1'), cur: s(2000, m(6), 'h2') },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const p = vmPoint(c.prev, c.cur);
      if (c.cpuCores === undefined) assert.equal(p, undefined);
      else assert.equal(p?.cpuCores, c.cpuCores);
    });
  }

  it('byte rates, MiB gauges, optional fields only when reported', () => {
    const p = vmPoint(s(0, m(0, { diskWriteBytes: 0, netRxBytes: 10 })), s(2000, m(1, { diskWriteBytes: 4 * MIB, netRxBytes: 2010, netTxBytes: 500, dirtyBytesPerSec: 8 * MIB })))!;
    assert.deepEqual(p, { t: 2000, cpuCores: 0.5, rssMiB: 256, dirtyMiBps: 8, diskReadBps: 0, diskWriteBps: 2 * MIB, netRxBps: 1000, netTxBps: 250, samples: 1 });
    const q = vmPoint(s(0, m(0, { netRxBytes: undefined, netTxBytes: undefined })), s(1000, m(1, { netRxBytes: undefined, netTxBytes: undefined })))!;
    assert.equal(q.netRxBps, 0, 'an agent without net counters: 0, never NaN');
    assert.equal('dirtyMiBps' in q, false);
  });
});

describe('metrics: host points', () => {
  const info = (o: Partial<HostInfo> = {}): HostInfo => ({ name: 'h1', site: 'main', url: 'u', cpus: 4, memoryMiB: 8192, accel: 'tcg', qemuVersion: '10', agentVersion: '0', pid: 1, loadAvg1: 0, memoryFreeMiB: 1000, ...o });
  const vm = (cpuCores: number, netBps: number) => ({ t: 0, cpuCores, rssMiB: 1, diskReadBps: 0, diskWriteBps: 0, netRxBps: netBps, netTxBps: 0, samples: 1 });

  it('sums the VMs against the capacity; volume is Sandpiper\'s', () => {
    const p = hostPoint({ t: 5, info: info({ netBytesPerSec: 1000 }), vms: [vm(1, 100), vm(1, 400)], allocatedMiB: 4096, vmCount: 3 });
    assert.deepEqual({ ...p, volume: Number(p.volume.toFixed(6)) }, { t: 5, cpu: 0.5, net: 0.5, mem: 0.5, volume: 8, memoryFreeMiB: 1000, vmCount: 3, samples: 1 });
  });

  it('no link capacity reported: 1 Gbit/s', () => {
    assert.equal(hostPoint({ t: 0, info: info(), vms: [vm(0, DEFAULT_NET_BYTES_PER_SEC / 4)], allocatedMiB: 0, vmCount: 1 }).net, 0.25);
  });

  it('hostCpu from the busy counter between two heartbeats, none across a gap or a reset', () => {
    const prev = { t: 0, info: info({ cpuBusySeconds: 100 }) };
    const at = (t: number, busy: number) => hostPoint({ t, info: info({ cpuBusySeconds: busy }), vms: [], allocatedMiB: 0, vmCount: 0, prev }).hostCpu;
    assert.equal(at(2000, 104), 0.5);
    assert.equal(at(20_000, 104), undefined);
    assert.equal(at(2000, 50), undefined);
  });
});
