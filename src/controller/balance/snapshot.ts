// What the planner sees, built from the cluster state and the metrics: per site, the hosts with
// their utilisation profiles and the VMs that may move, plus the migration history it learns
// costs and cooldowns from. No I/O: the sources are passed in, so this is tested with tables.
//
// A host's profile is rebuilt from the VMs that run on it *now*: sample i is the sum of those
// VMs' usage in bucket i. Right after a move the source host stops carrying the moved VM's past
// and the target starts to, so a re-plan does not see the old hotspot still standing (which
// would move a second VM for the same heat), and the auto loop needs no settling pause.
// Memory utilisation is the memory promised to the host's VMs (what decides whether a VM fits),
// against the host's memory.
//
// VMs that cannot move now (not running, busy with a task, pinned by DR) stay out of the VM list;
// the memory they hold is taken off their host's capacity, and their CPU and network load stays
// in its profile.
import type { BalanceConfig, Utilisation } from '../../contracts/balance.js';
import type { Vm } from '../../contracts/controller-api.js';
import type { VmPoint } from '../../contracts/metrics.js';
import type { MigrationRecord } from '../../contracts/migration.js';
import { bridgedNeed } from '../guest-net.js';
import type { HostRecord } from '../hosts-repo.js';
import type { BalanceHistory, BalanceHost, BalanceSnapshot, BalanceVm, PastMigration } from './planner.js';

const MIB = 1024 * 1024;
/** Link capacity assumed for a host that does not report one (1 Gbit/s). */
export const DEFAULT_NET_BYTES_PER_SEC = 125_000_000;

export interface SnapshotInput {
  hosts: readonly HostRecord[];
  vms: readonly Vm[];
  config: BalanceConfig;
  /** A VM's points over the profile window at `sampleMs` steps (oldest first; empty if none). */
  vmPoints(vm: string, windowMs: number, stepMs: number): readonly VmPoint[];
  /** Why a VM may not move now, or undefined. */
  pinned(vm: Vm): string | undefined;
  migrations: readonly MigrationRecord[];
  nowMs: number;
}

export interface SiteSnapshot {
  site: string;
  snapshot: BalanceSnapshot;
  /** VMs left out, with the reason (for the status and the plan's notes). */
  pinned: { vm: string; host: string; reason: string }[];
}

export interface Snapshots {
  sites: SiteSnapshot[];
  history: BalanceHistory;
}

const ALLOCATED = new Set<Vm['state']>(['running', 'paused', 'starting', 'stopping', 'suspending', 'restoring']);

export function buildSnapshots(inp: SnapshotInput): Snapshots {
  const { sampleMs, policy } = inp.config;
  const windowMs = sampleMs * policy.n;
  const points = new Map<string, readonly VmPoint[]>();
  for (const vm of inp.vms) if (ALLOCATED.has(vm.state)) points.set(vm.name, inp.vmPoints(vm.name, windowMs, sampleMs));

  const byHost = new Map<string, Vm[]>();
  for (const vm of inp.vms) if (ALLOCATED.has(vm.state)) (byHost.get(vm.host) ?? byHost.set(vm.host, []).get(vm.host)!).push(vm);
  const sites = new Map<string, SiteSnapshot>();
  for (const h of inp.hosts) {
    const site = sites.get(h.info.site) ?? sites.set(h.info.site, { site: h.info.site, snapshot: { hosts: [], vms: [] }, pinned: [] }).get(h.info.site)!;
    const onHost = byHost.get(h.info.name) ?? [];
    let heldMiB = 0;
    for (const vm of onHost) {
      const why = vm.state === 'running' ? inp.pinned(vm) : `it is ${vm.state}`;
      if (why !== undefined) {
        heldMiB += vm.memoryMiB;
        site.pinned.push({ vm: vm.name, host: vm.host, reason: why });
      } else {
        site.snapshot.vms.push(balanceVm(vm, points.get(vm.name) ?? []));
      }
    }
    const host: BalanceHost = {
      name: h.info.name,
      up: h.state === 'up',
      cpus: h.info.cpus,
      memoryMiB: Math.max(0, h.info.memoryMiB - heldMiB),
      netBytesPerSec: h.info.netBytesPerSec ?? DEFAULT_NET_BYTES_PER_SEC,
      samples: [],
      ...(h.info.guestNetwork ? { segment: h.info.guestNetwork.segment } : {}),
    };
    host.samples = hostSamples(h, onHost, points, inp.nowMs - windowMs, sampleMs, policy.n);
    site.snapshot.hosts.push(host);
  }
  return { sites: [...sites.values()].sort((a, b) => (a.site < b.site ? -1 : 1)), history: { nowMs: inp.nowMs, migrations: inp.migrations.map(pastMigration) } };
}

/** Mean load over the window: cores, network bytes/s and dirty rate. */
function balanceVm(vm: Vm, pts: readonly VmPoint[]): BalanceVm {
  const mean = (f: (p: VmPoint) => number): number => (pts.length === 0 ? 0 : pts.reduce((s, p) => s + f(p), 0) / pts.length);
  return {
    name: vm.name,
    host: vm.host,
    memoryMiB: vm.memoryMiB,
    vcpus: vm.vcpus,
    cpuCores: mean((p) => p.cpuCores),
    netBytesPerSec: mean((p) => p.netRxBps + p.netTxBps),
    residentMiB: vm.memoryMiB,
    dirtyBytesPerSec: mean((p) => (p.dirtyMiBps ?? 0) * MIB),
    ...withSegment(vm),
  };
}

/**
 * The host's utilisation in each of the last `n` buckets of `stepMs` since `fromMs`, as the sum
 * of its current VMs' points in that bucket; buckets where none of them has a point are left out.
 */
export function hostSamples(h: HostRecord, vms: readonly Vm[], points: ReadonlyMap<string, readonly VmPoint[]>, fromMs: number, stepMs: number, n: number): Utilisation[] {
  const cpu = new Array<number>(n).fill(0);
  const net = new Array<number>(n).fill(0);
  const seen = new Array<boolean>(n).fill(false);
  let memMiB = 0;
  for (const vm of vms) {
    memMiB += vm.memoryMiB;
    for (const p of points.get(vm.name) ?? []) {
      const i = Math.floor((p.t - fromMs) / stepMs);
      if (i < 0 || i >= n) continue;
      cpu[i]! += p.cpuCores;
      net[i]! += p.netRxBps + p.netTxBps;
      seen[i] = true;
    }
  }
  const cap = h.info.netBytesPerSec ?? DEFAULT_NET_BYTES_PER_SEC;
  const mem = h.info.memoryMiB > 0 ? memMiB / h.info.memoryMiB : 0;
  const out: Utilisation[] = [];
  for (let i = 0; i < n; i++) {
    if (!seen[i]) continue;
    out.push({ cpu: Math.min(1, cpu[i]! / Math.max(1, h.info.cpus)), net: Math.min(1, net[i]! / cap), mem: Math.min(1, mem) });
  }
  return out;
}

function pastMigration(r: MigrationRecord): PastMigration {
  return { vm: r.vm, atMs: Date.parse(r.startedAt), succeeded: r.outcome === 'succeeded', wireBytes: r.wireBytes, totalMs: r.totalMs };
}

/** A bridged VM's segment: it may only move to hosts on it (none recorded, which creation prevents: nowhere). */
function withSegment(vm: Vm): { segment?: string } {
  const need = bridgedNeed(vm.spec);
  return need ? { segment: need.segment ?? '' } : {};
}
