// The planner's working state: every host's load, memory and vCPUs as planned so far, where each
// VM is, and the moves chosen. Moves are applied to it one after another, so each later decision
// sees the cluster as the earlier moves leave it; density mode can roll its tentative moves back.
import type { BalanceMove, BalancePolicy, Utilisation } from '../../contracts/balance.js';
import { pct } from '../../contracts/format.js';
import { predictCost, type Cost } from './cost.js';
import { byName, type BalanceHistory, type BalanceHost, type BalanceSnapshot, type BalanceVm } from './model.js';
import { add, isHotspot, meanOf, peak, spread, volume, window } from './profiles.js';
import { Rules } from './rules.js';

export interface HostState {
  host: BalanceHost;
  load: Utilisation;
  memMiB: number;
  vcpus: number;
  vms: Set<string>;
  /** Hot by the k-of-n rule when planning began. */
  hot: boolean;
}

/** One migration to plan: `vm` (as it was in the snapshot) goes to `to` from wherever it is then. */
export interface Step {
  vm: BalanceVm;
  to: string;
}

export const describe = (u: Utilisation): string => `cpu ${pct(u.cpu)}, net ${pct(u.net)}, mem ${pct(u.mem)}`;

export class PlanState {
  readonly hosts = new Map<string, HostState>();
  readonly vms = new Map<string, BalanceVm>();
  readonly moved = new Set<string>();
  readonly moves: BalanceMove[] = [];
  readonly notes: string[] = [];
  readonly rules: Rules;
  private readonly costs = new Map<string, Cost>();
  private groupSeq = 0;

  constructor(
    snap: BalanceSnapshot,
    readonly policy: BalancePolicy,
    private readonly history: BalanceHistory,
  ) {
    // Sorted by name, so that every sum and every tie comes out the same whatever the input order.
    for (const h of [...snap.hosts].sort((a, b) => byName(a.name, b.name))) {
      this.hosts.set(h.name, { host: h, load: { cpu: 0, net: 0, mem: 0 }, memMiB: 0, vcpus: 0, vms: new Set(), hot: false });
    }
    for (const vm of [...snap.vms].sort((a, b) => byName(a.name, b.name))) {
      const s = this.hosts.get(vm.host);
      if (!s) continue;
      this.vms.set(vm.name, vm);
      s.vms.add(vm.name);
      s.memMiB += vm.memoryMiB;
      s.vcpus += vm.vcpus;
      s.load = add(s.load, this.share(vm, s.host));
    }
    for (const s of this.hosts.values()) {
      s.load = meanOf(s.host.samples, policy.n) ?? s.load;
      s.hot = s.host.up && isHotspot(s.host.samples, policy.threshold, policy.k, policy.n);
    }
    this.rules = new Rules(policy, history);
  }

  /** A VM's load as a share of `host`'s capacity. */
  share(vm: BalanceVm, host: BalanceHost): Utilisation {
    return { cpu: vm.cpuCores / host.cpus, net: host.netBytesPerSec > 0 ? vm.netBytesPerSec / host.netBytesPerSec : 0, mem: vm.residentMiB / host.memoryMiB };
  }

  cost(vm: BalanceVm): Cost {
    let c = this.costs.get(vm.name);
    if (!c) this.costs.set(vm.name, (c = predictCost(vm, this.history.migrations, this.policy.linkBytesPerSec)));
    return c;
  }

  /** Moved in this plan or still in its cooldown. */
  pinned(vm: string): boolean {
    return this.moved.has(vm) || this.rules.cooling(vm);
  }

  /** The unit a VM moves in: its `together` group (the members on its host), or itself. */
  unitOf(vm: BalanceVm): BalanceVm[] {
    const g = this.rules.groupOf(vm.name);
    if (!g) return [vm];
    return g.map((n) => this.vms.get(n)).filter((v): v is BalanceVm => v !== undefined && v.host === vm.host);
  }

  upHosts(): HostState[] {
    return [...this.hosts.values()].filter((s) => s.host.up);
  }

  imbalance(): number {
    return spread(this.upHosts().map((s) => volume(s.load)));
  }

  remaining(): number {
    return this.policy.maxMoves - this.moves.length;
  }

  /** How many of the last n samples were over the threshold, for the reason sentence. */
  overCount(s: HostState): string {
    const w = window(s.host.samples, this.policy.n);
    return `${w.filter((x) => peak(x) > this.policy.threshold).length} of the last ${w.length} samples`;
  }

  /**
   * Carry out steps, in order, on the state and record them as moves; returns the moves. A VM may
   * appear twice (staged through a third host). `ordered` numbers the moves' `step`s.
   */
  apply(steps: readonly Step[], kind: BalanceMove['kind'], reason: (s: Step, i: number) => string, ordered = false): BalanceMove[] {
    const imbalanceBefore = this.imbalance();
    const at = new Map<string, string>();
    const froms = steps.map((s) => {
      const from = at.get(s.vm.name) ?? this.vms.get(s.vm.name)!.host;
      at.set(s.vm.name, s.to);
      return from;
    });
    const before = new Map(froms.map((f) => [f, volume(this.hosts.get(f)!.load)]));
    for (const s of steps) this.relocate(s.vm.name, s.to);
    const imbalanceAfter = this.imbalance();
    const group = steps.length > 1 ? `${kind}-${++this.groupSeq}` : undefined;
    const out = steps.map((s, i): BalanceMove => {
      const from = froms[i]!;
      return {
        vm: s.vm.name,
        from,
        to: s.to,
        kind,
        ...(group ? { group } : {}),
        ...(ordered ? { step: i + 1 } : {}),
        reason: reason(s, i),
        gain: { fromVolumeBefore: before.get(from)!, fromVolumeAfter: volume(this.hosts.get(from)!.load), imbalanceBefore, imbalanceAfter },
        cost: this.cost(s.vm),
      };
    });
    this.moves.push(...out);
    return out;
  }

  private relocate(name: string, to: string): void {
    const vm = this.vms.get(name)!;
    const src = this.hosts.get(vm.host)!;
    const dst = this.hosts.get(to)!;
    src.vms.delete(name);
    src.memMiB -= vm.memoryMiB;
    src.vcpus -= vm.vcpus;
    src.load = add(src.load, this.share(vm, src.host), -1);
    dst.vms.add(name);
    dst.memMiB += vm.memoryMiB;
    dst.vcpus += vm.vcpus;
    dst.load = add(dst.load, this.share(vm, dst.host));
    this.vms.set(name, { ...vm, host: to });
    this.moved.add(name);
  }

  /** Undo the last `count` moves (density mode: a host that cannot be drained completely). */
  rollback(count: number): void {
    for (const m of this.moves.splice(this.moves.length - count).reverse()) {
      this.relocate(m.vm, m.from);
      this.moved.delete(m.vm);
    }
  }
}
