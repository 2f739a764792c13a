// From what agents report to points: VM counters (CPU seconds, disk and network bytes) become
// rates between two consecutive samples of the same VM on the same host, and a host's point
// sums its VMs against its capacity — the utilisation Sandpiper's profiles are made of. A
// counter that goes backwards (the VM restarted, or it now runs in another QEMU on another host)
// or a gap longer than MAX_GAP_MS gives no rate: the next pair starts over. Pure.
import type { HostInfo } from '../../contracts/agent-api.js';
import type { HostPoint, VmLoad, VmPoint } from '../../contracts/metrics.js';
import type { VmMetrics } from '../../contracts/vm-spec.js';
import { volume } from '../balance/profiles.js';

/** No rate across a silence longer than this (ten missed heartbeats). */
export const MAX_GAP_MS = 10_000;
/** Link capacity assumed for an agent that does not report one: 1 Gbit/s. */
export const DEFAULT_NET_BYTES_PER_SEC = 125_000_000;

const MIB = 1024 * 1024;

export interface VmSample {
  /** Epoch ms: the agent's sampledAtMs, or the controller's receive time. */
  t: number;
  host: string;
  m: VmMetrics;
}

const COUNTERS = ['cpuSeconds', 'diskReadBytes', 'diskWriteBytes', 'netRxBytes', 'netTxBytes'] as const;

/** The point between two samples, or undefined when there is no rate to take. */
export function vmPoint(prev: VmSample | undefined, cur: VmSample): VmPoint | undefined {
  if (!prev || prev.host !== cur.host) return undefined;
  const dtMs = cur.t - prev.t;
  if (dtMs <= 0 || dtMs > MAX_GAP_MS) return undefined;
  if (COUNTERS.some((k) => (cur.m[k] ?? 0) < (prev.m[k] ?? 0))) return undefined;
  const s = dtMs / 1000;
  const rate = (k: (typeof COUNTERS)[number]): number => (cur.m[k] === undefined || prev.m[k] === undefined ? 0 : (cur.m[k] - prev.m[k]) / s);
  const { m } = cur;
  return {
    t: cur.t,
    cpuCores: rate('cpuSeconds'),
    rssMiB: m.rssBytes / MIB,
    ...(m.balloonBytes !== undefined ? { balloonMiB: m.balloonBytes / MIB } : {}),
    ...(m.dirtyBytesPerSec !== undefined ? { dirtyMiBps: m.dirtyBytesPerSec / MIB } : {}),
    diskReadBps: rate('diskReadBytes'),
    diskWriteBps: rate('diskWriteBytes'),
    netRxBps: rate('netRxBytes'),
    netTxBps: rate('netTxBytes'),
    samples: 1,
  };
}

export function vmLoadOf(p: Omit<VmPoint, 't' | 'samples'>): VmLoad {
  return {
    cpuCores: p.cpuCores,
    rssMiB: p.rssMiB,
    ...(p.dirtyMiBps !== undefined ? { dirtyMiBps: p.dirtyMiBps } : {}),
    diskBps: p.diskReadBps + p.diskWriteBps,
    netBps: p.netRxBps + p.netTxBps,
  };
}

export interface HostSample {
  t: number;
  info: HostInfo;
}

export interface HostInput extends HostSample {
  /** Rates of the host's VMs in this heartbeat (VMs without a rate yet are left out). */
  vms: readonly VmPoint[];
  /** Memory promised to the host's live VMs, as placement counts it. */
  allocatedMiB: number;
  vmCount: number;
  prev?: HostSample | undefined;
}

export function hostPoint(h: HostInput): HostPoint {
  const { info } = h;
  let cores = 0;
  let netBps = 0;
  for (const v of h.vms) {
    cores += v.cpuCores;
    netBps += v.netRxBps + v.netTxBps;
  }
  const u = {
    cpu: info.cpus > 0 ? cores / info.cpus : 0,
    net: netBps / (info.netBytesPerSec && info.netBytesPerSec > 0 ? info.netBytesPerSec : DEFAULT_NET_BYTES_PER_SEC),
    mem: info.memoryMiB > 0 ? h.allocatedMiB / info.memoryMiB : 0,
  };
  const hostCpu = busyFraction(h.prev, h);
  return {
    t: h.t,
    ...u,
    volume: volume(u),
    ...(hostCpu !== undefined ? { hostCpu } : {}),
    memoryFreeMiB: info.memoryFreeMiB,
    vmCount: h.vmCount,
    samples: 1,
  };
}

/** The machine's busy fraction between two heartbeats, from its cpuBusySeconds counter. */
function busyFraction(prev: HostSample | undefined, cur: HostSample): number | undefined {
  const a = prev?.info.cpuBusySeconds;
  const b = cur.info.cpuBusySeconds;
  if (!prev || a === undefined || b === undefined || b < a || cur.info.cpus <= 0) return undefined;
  const dtMs = cur.t - prev.t;
  if (dtMs <= 0 || dtMs > MAX_GAP_MS) return undefined;
  return (b - a) / (dtMs / 1000) / cur.info.cpus;
}
