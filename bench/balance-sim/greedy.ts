// The baseline the issue asks for: a simple greedy balancer. While some host's latest sample is
// over the threshold (up to `maxMoves` moves), move the largest-memory VM of the hottest host to
// the least loaded host with room for it (memory, vCPUs). No k-of-n, no VSR, no cost, no cooldown.
import type { BalancePolicy, Utilisation } from '../../src/contracts/balance.js';
import type { BalanceSnapshot, BalanceVm } from '../../src/controller/balance/planner.js';
import { add, peak, volume } from '../../src/controller/balance/profiles.js';
import type { PlannedMove } from './cluster.js';

interface Host {
  name: string;
  cpus: number;
  memoryMiB: number;
  net: number;
  load: Utilisation;
  mem: number;
  vcpus: number;
  vms: BalanceVm[];
}

export function greedyPlan(snap: BalanceSnapshot, p: BalancePolicy): PlannedMove[] {
  const hosts = new Map<string, Host>(
    snap.hosts.map((h) => [h.name, { name: h.name, cpus: h.cpus, memoryMiB: h.memoryMiB, net: h.netBytesPerSec, load: h.samples[h.samples.length - 1] ?? { cpu: 0, net: 0, mem: 0 }, mem: 0, vcpus: 0, vms: [] }]),
  );
  for (const v of snap.vms) {
    const h = hosts.get(v.host)!;
    h.mem += v.memoryMiB;
    h.vcpus += v.vcpus;
    h.vms.push(v);
  }
  const share = (v: BalanceVm, h: Host): Utilisation => ({ cpu: v.cpuCores / h.cpus, net: v.netBytesPerSec / h.net, mem: v.residentMiB / h.memoryMiB });
  const moves: PlannedMove[] = [];
  const stuck = new Set<string>();
  while (moves.length < p.maxMoves) {
    const h = [...hosts.values()].filter((x) => peak(x.load) > p.threshold && !stuck.has(x.name)).sort((a, b) => peak(b.load) - peak(a.load) || (a.name < b.name ? -1 : 1))[0];
    if (!h) break;
    const vm = [...h.vms].sort((a, b) => b.memoryMiB - a.memoryMiB || (a.name < b.name ? -1 : 1))[0];
    const t = vm && [...hosts.values()]
      .filter((x) => x !== h && x.memoryMiB - p.reserveMiB - x.mem >= vm.memoryMiB && x.cpus * p.cpuOvercommit - x.vcpus >= vm.vcpus)
      .sort((a, b) => volume(a.load) - volume(b.load) || (a.name < b.name ? -1 : 1))[0];
    if (!vm || !t) {
      stuck.add(h.name);
      continue;
    }
    h.vms.splice(h.vms.indexOf(vm), 1);
    h.mem -= vm.memoryMiB;
    h.vcpus -= vm.vcpus;
    h.load = add(h.load, share(vm, h), -1);
    t.mem += vm.memoryMiB;
    t.vcpus += vm.vcpus;
    t.load = add(t.load, share(vm, t));
    moves.push({ vm: vm.name, to: t.name });
  }
  return moves;
}
