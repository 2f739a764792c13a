// Fit checks: whether VMs may land on a host — memory (less the policy's reserve), vCPUs (times
// the overcommit), `apart` rules, and that the host stays under the threshold.
import type { BalanceVm } from './model.js';
import { add, peak } from './profiles.js';
import { describe, type HostState, type PlanState } from './host-state.js';

const sum = (vs: readonly BalanceVm[], f: (v: BalanceVm) => number): number => vs.reduce((s, v) => s + f(v), 0);

/**
 * Why `target` has no room for `needMiB`/`needCpus` when `extraMiB`/`extraCpus` more than planned
 * are in use on it (negative: freed), or undefined if there is room. Memory is what a live
 * migration reserves on its target before it starts (DESIGN step 2).
 */
export function lacksRoom(st: PlanState, target: HostState, needMiB: number, needCpus: number, extraMiB = 0, extraCpus = 0): string | undefined {
  const h = target.host;
  const freeMiB = h.memoryMiB - st.policy.reserveMiB - target.memMiB - extraMiB;
  if (needMiB > freeMiB) return `${h.name} has ${Math.max(0, freeMiB)} MiB free, ${needMiB} MiB needed`;
  const freeCpus = h.cpus * st.policy.cpuOvercommit - target.vcpus - extraCpus;
  if (needCpus > freeCpus) return `${h.name} has ${Math.max(0, freeCpus)} vCPUs left, ${needCpus} needed`;
  return undefined;
}

/** Why some of `incoming` must stay apart from a VM on `target` that is not `leaving`, or undefined. */
export function apartConflict(st: PlanState, incoming: readonly BalanceVm[], target: HostState, leaving: readonly BalanceVm[] = []): string | undefined {
  const gone = new Set(leaving.map((v) => v.name));
  for (const v of incoming) {
    for (const other of st.rules.apartFrom(v.name)) {
      if (target.vms.has(other) && !gone.has(other)) return `${v.name} must stay apart from ${other}, which runs on ${target.host.name}`;
    }
  }
  return undefined;
}

/**
 * Why `incoming` cannot go to `target` once `leaving` has left it, or undefined if it fits:
 * memory, vCPUs, `apart` rules, and the target must not become hot.
 */
export function whyNot(st: PlanState, incoming: readonly BalanceVm[], target: HostState, leaving: readonly BalanceVm[] = []): string | undefined {
  const h = target.host;
  if (!h.up) return `${h.name} is down`;
  const off = incoming.find((v) => v.segment !== undefined && v.segment !== h.segment);
  if (off) return `${off.name}'s bridged NIC is on segment ${off.segment}, which ${h.name} is not on`;
  const room = lacksRoom(st, target, sum(incoming, (v) => v.memoryMiB), sum(incoming, (v) => v.vcpus), -sum(leaving, (v) => v.memoryMiB), -sum(leaving, (v) => v.vcpus));
  if (room) return room;
  const apart = apartConflict(st, incoming, target, leaving);
  if (apart) return apart;
  let load = target.load;
  for (const v of leaving) load = add(load, st.share(v, h), -1);
  for (const v of incoming) load = add(load, st.share(v, h));
  if (peak(load) > st.policy.threshold) return `${h.name} would become hot (${describe(load)})`;
  return undefined;
}
