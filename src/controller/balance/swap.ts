// Swaps (Sandpiper): when no VM of a hot host fits anywhere, exchange a hot VM with up to
// MAX_SWAP_PEERS of the coolest VMs of a target host — and list the migrations in an order an
// executor can carry out one after another, each needing the VM's memory free on its target at
// that moment (a live migration reserves it before it starts). Between two full hosts neither
// side may fit first: then one VM of the exchange steps aside to a third host with room, the
// rest go straight, and it goes on to its final host last. Of the workable sequences the planner
// takes the direct one, else the one whose staged VM migrates cheapest; with none, it drops the
// swap and says why.
import type { BalanceVm } from './model.js';
import { byName } from './model.js';
import { apartConflict, lacksRoom, whyNot } from './capacity.js';
import type { HostState, PlanState, Step } from './host-state.js';
import { add, volume } from './profiles.js';
import type { Candidate } from './candidates.js';

export const MAX_SWAP_PEERS = 3;

interface Leg {
  vm: BalanceVm;
  from: string;
  to: string;
}
/** Memory and vCPUs in use on a host beyond what the state plans, while a sequence runs. */
type Ledger = Map<string, { mib: number; cpus: number }>;

const entry = (l: Ledger, host: string) => l.get(host) ?? l.set(host, { mib: 0, cpus: 0 }).get(host)!;
function shift(l: Ledger, vm: BalanceVm, from: string, to: string): void {
  const a = entry(l, from);
  const b = entry(l, to);
  a.mib -= vm.memoryMiB;
  a.cpus -= vm.vcpus;
  b.mib += vm.memoryMiB;
  b.cpus += vm.vcpus;
}

/** Why `leg` cannot start now, or undefined. */
function blocked(st: PlanState, leg: Leg, l: Ledger): string | undefined {
  const u = entry(l, leg.to);
  return lacksRoom(st, st.hosts.get(leg.to)!, leg.vm.memoryMiB, leg.vm.vcpus, u.mib, u.cpus);
}

/** The legs in an order where each fits once those before it completed (greedy, first in list first), or undefined. */
function order(st: PlanState, legs: readonly Leg[], l: Ledger): Leg[] | undefined {
  const left = [...legs];
  const out: Leg[] = [];
  while (left.length > 0) {
    const i = left.findIndex((leg) => !blocked(st, leg, l));
    if (i < 0) return undefined;
    const [leg] = left.splice(i, 1) as [Leg];
    shift(l, leg.vm, leg.from, leg.to);
    out.push(leg);
  }
  return out;
}

/** An executable sequence for the exchange, or why there is none. */
function sequence(st: PlanState, direct: readonly Leg[], h: HostState, t: HostState): Leg[] | string {
  const straight = order(st, direct, new Map());
  if (straight) return straight;
  const first = direct.map((leg) => blocked(st, leg, new Map())).join('; ');
  const why = `neither side fits first (${first})`;
  if (direct.length + 1 > st.remaining()) return `${why}, and staging needs ${direct.length + 1} moves, ${st.remaining()} left`;
  const byCost = [...direct].sort((a, b) => st.cost(a.vm).seconds - st.cost(b.vm).seconds || byName(a.vm.name, b.vm.name));
  const stages = st
    .upHosts()
    .filter((s) => s !== h && s !== t)
    .sort((a, b) => volume(a.load) - volume(b.load) || byName(a.host.name, b.host.name));
  for (const leg of byCost) {
    for (const s of stages) {
      if (lacksRoom(st, s, leg.vm.memoryMiB, leg.vm.vcpus) || apartConflict(st, [leg.vm], s)) continue;
      const l: Ledger = new Map();
      shift(l, leg.vm, leg.from, s.host.name);
      const rest = order(st, direct.map((d) => (d === leg ? { ...d, from: s.host.name } : d)), l);
      if (rest) return [{ vm: leg.vm, from: leg.from, to: s.host.name }, ...rest];
    }
  }
  return `${why}, and no third host has room to stage one of them`;
}

/** Swap a hot VM (highest VSR first) with up to MAX_SWAP_PEERS of the coolest VMs of a target. */
export function swap(st: PlanState, h: HostState, targets: readonly HostState[], cands: readonly Candidate[], why: string): boolean {
  const hot = cands.filter((c) => c.unit.length === 1 && !st.rules.groupOf(c.unit[0]!.name)).sort((a, b) => b.vsr - a.vsr || byName(a.unit[0]!.name, b.unit[0]!.name));
  const dropped: string[] = [];
  for (const c of hot) {
    const x = c.unit[0]!;
    const before = volume(h.load);
    for (const t of targets) {
      const cool = [...t.vms]
        .map((n) => st.vms.get(n)!)
        .filter((v) => !st.pinned(v.name) && !st.rules.groupOf(v.name))
        .sort((a, b) => volume(st.share(a, t.host)) - volume(st.share(b, t.host)) || byName(a.name, b.name));
      const peers: BalanceVm[] = [];
      for (const v of cool) {
        if (peers.length >= MAX_SWAP_PEERS || peers.length + 2 > st.remaining()) break;
        peers.push(v);
        if (whyNot(st, [x], t, peers) || whyNot(st, peers, h, [x])) continue;
        let after = add(h.load, st.share(x, h.host), -1);
        for (const v of peers) after = add(after, st.share(v, h.host));
        if (volume(after) >= before) continue;
        const names = peers.map((v) => v.name).join(', ');
        const seq = sequence(st, [{ vm: x, from: h.host.name, to: t.host.name }, ...peers.map((vm) => ({ vm, from: t.host.name, to: h.host.name }))], h, t);
        if (typeof seq === 'string') {
          dropped.push(`swap of ${x.name} (${h.host.name}) with ${names} (${t.host.name}) dropped: ${seq}`);
          continue;
        }
        st.apply(seq, 'swap', reasons(seq, x, h, t, names, why), true);
        return true;
      }
    }
  }
  if (dropped.length > 0) st.notes.push(`${dropped[0]}.${dropped.length > 1 ? ` (${dropped.length - 1} more swaps dropped for the same kind of reason.)` : ''}`);
  return false;
}

function reasons(seq: readonly Leg[], x: BalanceVm, h: HostState, t: HostState, names: string, why: string): (s: Step, i: number) => string {
  const staged = seq[0]!.to !== h.host.name && seq[0]!.to !== t.host.name ? seq[0]! : undefined;
  return (s, i) => {
    if (staged && i === 0) return `${s.vm.name} steps aside to ${s.to} first: neither side of the swap between ${h.host.name} and ${t.host.name} fits before the other has left.`;
    if (staged && s.vm === staged.vm) return `${s.vm.name} goes on from staging host ${staged.to} to ${s.to}, completing the swap.`;
    return s.vm === x
      ? `${why}; no host can take ${x.name} as it is, so it swaps places with ${names} from ${t.host.name}.`
      : `${s.vm.name} makes room on ${t.host.name} for ${x.name} from hot ${h.host.name} (swap).`;
  };
}
