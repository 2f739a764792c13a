// The load-balancing planner: (cluster snapshot, policy, history) → plan. Pure and
// deterministic — no I/O, no clock (the caller passes `nowMs`), ties broken by name — so it is
// tested with tables and the executor alone touches the cluster (DESIGN: schedulers are pure
// functions from a snapshot to a plan).
//
// Performance mode (Sandpiper): while some host is hot (k of its last n samples over the
// threshold, and still over it after the moves planned so far), take the hottest one and move
// the VM with the highest volume-to-size ratio to the least loaded host that can take it without
// becoming hot itself. Among near-equal VSRs the cheaper migration wins. When no VM fits
// anywhere, swap a hot VM with up to MAX_SWAP_PEERS cooler VMs of a target host; otherwise the
// plan says why nothing fits. A swap is checked as one exchange: each side fits once the other
// has left, so the executor must order it (or stage through spare memory) — neither VM may
// simply go first when both hosts are full.
// Density mode: drain the least loaded hosts onto the most loaded ones that stay under the
// threshold (best fit); a host is drained completely or not at all, and is then listed for
// power-off.
// Both: capacity (memory minus a reserve, vCPUs × overcommit), `together` rules (the group
// moves as one or not at all), `apart` rules, a cooldown per VM, and a limit on moves per plan.
import type { BalanceMove, BalancePlan, BalancePolicy, Utilisation } from '../../wire/balance.js';
import { add, isHotspot, meanOf, peak, spread, volume, window } from './profiles.js';

export const MAX_SWAP_PEERS = 3;
/** Past migrations of a VM that predict its next one. */
export const HISTORY_DEPTH = 5;
/** Pre-copy rounds assumed by the cost model. */
const COST_ROUNDS = 30;
const MAX_DIRTY_RATIO = 0.9;
const MIB = 1024 * 1024;

export const DEFAULT_POLICY: BalancePolicy = {
  mode: 'performance',
  threshold: 0.85,
  k: 3,
  n: 5,
  cpuOvercommit: 4,
  reserveMiB: 512,
  maxMoves: 4,
  cooldownMs: 10 * 60_000,
  nearEqual: 0.1,
  linkBytesPerSec: 117 * MIB,
  rules: [],
};

export interface BalanceHost {
  name: string;
  up: boolean;
  cpus: number;
  memoryMiB: number;
  netBytesPerSec: number;
  /** Utilisation samples, oldest first. */
  samples: Utilisation[];
}

export interface BalanceVm {
  name: string;
  host: string;
  memoryMiB: number;
  vcpus: number;
  /** Current load: cores busy, network bytes/s, resident memory. */
  cpuCores: number;
  netBytesPerSec: number;
  residentMiB: number;
  dirtyBytesPerSec: number;
}

export interface PastMigration {
  vm: string;
  /** When it was moved (start of the migration). */
  atMs: number;
  succeeded: boolean;
  wireBytes: number;
  totalMs: number;
}

export interface BalanceSnapshot {
  hosts: BalanceHost[];
  vms: BalanceVm[];
}

export interface BalanceHistory {
  nowMs: number;
  migrations: PastMigration[];
}

interface HostState {
  host: BalanceHost;
  load: Utilisation;
  memMiB: number;
  vcpus: number;
  vms: Set<string>;
  /** Hot by the k-of-n rule when planning began. */
  hot: boolean;
}

type Cost = BalanceMove['cost'];
interface Step {
  vm: BalanceVm;
  to: string;
}

const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const pct = (u: number): string => `${Math.round(u * 100)}%`;
const describe = (u: Utilisation): string => `cpu ${pct(u.cpu)}, net ${pct(u.net)}, mem ${pct(u.mem)}`;

/** Predicted cost of migrating `vm`: its own past migrations if any, else pre-copy's geometric series. */
export function predictCost(vm: BalanceVm, past: readonly PastMigration[], linkBytesPerSec: number): Cost {
  const own = past.filter((m) => m.vm === vm.name && m.succeeded).sort((a, b) => b.atMs - a.atMs).slice(0, HISTORY_DEPTH);
  if (own.length > 0) {
    const bytes = own.reduce((s, m) => s + m.wireBytes, 0) / own.length;
    const seconds = own.reduce((s, m) => s + m.totalMs, 0) / own.length / 1000;
    return { bytes, seconds, learned: true };
  }
  const mem = vm.memoryMiB * MIB;
  const r = Math.min(vm.dirtyBytesPerSec / linkBytesPerSec, MAX_DIRTY_RATIO);
  const bytes = r === 0 ? mem : (mem * (1 - r ** COST_ROUNDS)) / (1 - r);
  return { bytes, seconds: bytes / linkBytesPerSec, learned: false };
}

const addCost = (a: Cost, b: Cost): Cost => ({ bytes: a.bytes + b.bytes, seconds: a.seconds + b.seconds, learned: a.learned && b.learned });

class Planner {
  readonly hosts = new Map<string, HostState>();
  readonly vms = new Map<string, BalanceVm>();
  readonly moved = new Set<string>();
  readonly moves: BalanceMove[] = [];
  readonly notes: string[] = [];
  private readonly together = new Map<string, string[]>();
  private readonly apart = new Map<string, Set<string>>();
  private readonly lastMove = new Map<string, number>();
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
    for (const m of history.migrations) this.lastMove.set(m.vm, Math.max(m.atMs, this.lastMove.get(m.vm) ?? -Infinity));
    this.indexRules();
  }

  /** A VM's load as a share of `host`'s capacity. */
  share(vm: BalanceVm, host: BalanceHost): Utilisation {
    return { cpu: vm.cpuCores / host.cpus, net: host.netBytesPerSec > 0 ? vm.netBytesPerSec / host.netBytesPerSec : 0, mem: vm.residentMiB / host.memoryMiB };
  }

  private indexRules(): void {
    // `together` rules that share a VM merge into one group (union by smallest name).
    const root = new Map<string, string>();
    const find = (v: string): string => {
      let r = v;
      while (root.has(r) && root.get(r) !== r) r = root.get(r)!;
      return r;
    };
    for (const rule of this.policy.rules) {
      for (const v of rule.vms) if (!root.has(v)) root.set(v, v);
      if (rule.kind === 'apart') {
        for (const a of rule.vms) for (const b of rule.vms) if (a !== b) (this.apart.get(a) ?? this.apart.set(a, new Set()).get(a)!).add(b);
        continue;
      }
      for (const v of rule.vms.slice(1)) {
        const [x, y] = [find(rule.vms[0]!), find(v)].sort(byName) as [string, string];
        root.set(y, x);
      }
    }
    const groups = new Map<string, string[]>();
    for (const rule of this.policy.rules) {
      if (rule.kind !== 'together') continue;
      for (const v of rule.vms) {
        const g = groups.get(find(v)) ?? groups.set(find(v), []).get(find(v))!;
        if (!g.includes(v)) g.push(v);
      }
    }
    for (const g of groups.values()) for (const v of g) this.together.set(v, g.sort(byName));
  }

  cooling(vm: string): boolean {
    const at = this.lastMove.get(vm);
    return at !== undefined && this.history.nowMs - at < this.policy.cooldownMs;
  }

  cost(vm: BalanceVm): Cost {
    let c = this.costs.get(vm.name);
    if (!c) this.costs.set(vm.name, (c = predictCost(vm, this.history.migrations, this.policy.linkBytesPerSec)));
    return c;
  }

  /** The unit a VM moves in: its `together` group (the members on its host), or itself. */
  unitOf(vm: BalanceVm): BalanceVm[] {
    const g = this.together.get(vm.name);
    if (!g) return [vm];
    return g.map((n) => this.vms.get(n)).filter((v): v is BalanceVm => v !== undefined && v.host === vm.host);
  }

  grouped(vm: string): boolean {
    return this.together.has(vm);
  }

  upHosts(): HostState[] {
    return [...this.hosts.values()].filter((s) => s.host.up);
  }

  imbalance(): number {
    return spread(this.upHosts().map((s) => volume(s.load)));
  }

  /**
   * Why `incoming` cannot go to `target` once `leaving` has left it, or undefined if it fits:
   * memory, vCPUs, `apart` rules, and the target must not become hot.
   */
  whyNot(incoming: readonly BalanceVm[], target: HostState, leaving: readonly BalanceVm[] = []): string | undefined {
    const p = this.policy;
    const h = target.host;
    if (!h.up) return `${h.name} is down`;
    const sum = (vs: readonly BalanceVm[], f: (v: BalanceVm) => number) => vs.reduce((s, v) => s + f(v), 0);
    const freeMiB = h.memoryMiB - p.reserveMiB - target.memMiB + sum(leaving, (v) => v.memoryMiB);
    const needMiB = sum(incoming, (v) => v.memoryMiB);
    if (needMiB > freeMiB) return `${h.name} has ${Math.max(0, freeMiB)} MiB free, ${needMiB} MiB needed`;
    const freeCpus = h.cpus * p.cpuOvercommit - target.vcpus + sum(leaving, (v) => v.vcpus);
    const needCpus = sum(incoming, (v) => v.vcpus);
    if (needCpus > freeCpus) return `${h.name} has ${Math.max(0, freeCpus)} vCPUs left, ${needCpus} needed`;
    const gone = new Set(leaving.map((v) => v.name));
    for (const v of incoming) {
      for (const other of this.apart.get(v.name) ?? []) {
        if (target.vms.has(other) && !gone.has(other)) return `${v.name} must stay apart from ${other}, which runs on ${h.name}`;
      }
    }
    let load = target.load;
    for (const v of leaving) load = add(load, this.share(v, h), -1);
    for (const v of incoming) load = add(load, this.share(v, h));
    if (peak(load) > p.threshold) return `${h.name} would become hot (${describe(load)})`;
    return undefined;
  }

  /** Carry out steps on the state and record them as moves; returns the moves. */
  apply(steps: readonly Step[], kind: BalanceMove['kind'], reason: (s: Step) => string): BalanceMove[] {
    const imbalanceBefore = this.imbalance();
    const before = new Map<string, number>();
    for (const s of steps) before.set(s.vm.host, before.get(s.vm.host) ?? volume(this.hosts.get(s.vm.host)!.load));
    const froms = steps.map((s) => s.vm.host);
    for (const s of steps) this.relocate(s.vm, s.to);
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
        reason: reason(s),
        gain: { fromVolumeBefore: before.get(from)!, fromVolumeAfter: volume(this.hosts.get(from)!.load), imbalanceBefore, imbalanceAfter },
        cost: this.cost(s.vm),
      };
    });
    this.moves.push(...out);
    return out;
  }

  private relocate(vm: BalanceVm, to: string): void {
    const src = this.hosts.get(vm.host)!;
    const dst = this.hosts.get(to)!;
    src.vms.delete(vm.name);
    src.memMiB -= vm.memoryMiB;
    src.vcpus -= vm.vcpus;
    src.load = add(src.load, this.share(vm, src.host), -1);
    dst.vms.add(vm.name);
    dst.memMiB += vm.memoryMiB;
    dst.vcpus += vm.vcpus;
    dst.load = add(dst.load, this.share(vm, dst.host));
    const moved = { ...vm, host: to };
    this.vms.set(vm.name, moved);
    this.moved.add(vm.name);
  }

  /** Undo the last `count` moves (density mode: a host that cannot be drained completely). */
  rollback(count: number): void {
    for (const m of this.moves.splice(this.moves.length - count).reverse()) {
      this.relocate(this.vms.get(m.vm)!, m.from);
      this.moved.delete(m.vm);
    }
  }

  remaining(): number {
    return this.policy.maxMoves - this.moves.length;
  }

  /** How many of the last n samples were over the threshold, for the reason sentence. */
  overCount(s: HostState): string {
    const w = window(s.host.samples, this.policy.n);
    return `${w.filter((x) => peak(x) > this.policy.threshold).length} of the last ${w.length} samples`;
  }
}

export function plan(snapshot: BalanceSnapshot, policy: BalancePolicy, history: BalanceHistory): BalancePlan {
  const p = new Planner(snapshot, policy, history);
  const imbalanceBefore = p.imbalance();
  const hotspots = p
    .upHosts()
    .filter((s) => s.hot)
    .map((s) => s.host.name)
    .sort(byName);
  const powerOff: string[] = [];
  if (policy.mode === 'density') pack(p, powerOff);
  else spreadLoad(p);
  return { mode: policy.mode, hotspots, moves: p.moves, powerOff, notes: p.notes, imbalanceBefore, imbalanceAfter: p.imbalance() };
}

interface Candidate {
  unit: BalanceVm[];
  vsr: number;
  cost: Cost;
  target?: HostState;
  why?: string;
}

function spreadLoad(p: Planner): void {
  const unresolved = new Set<string>();
  for (;;) {
    const hot = p
      .upHosts()
      .filter((s) => s.hot && peak(s.load) > p.policy.threshold && !unresolved.has(s.host.name))
      .sort((a, b) => volume(b.load) - volume(a.load) || byName(a.host.name, b.host.name));
    const h = hot[0];
    if (!h) return;
    if (p.remaining() <= 0) {
      p.notes.push(`concurrency limit of ${p.policy.maxMoves} moves reached; still hot: ${hot.map((s) => s.host.name).join(', ')}`);
      return;
    }
    const targets = p
      .upHosts()
      .filter((s) => s !== h && peak(s.load) <= p.policy.threshold)
      .sort((a, b) => volume(a.load) - volume(b.load) || byName(a.host.name, b.host.name));
    const cands = candidates(p, h, targets);
    const ok = cands.filter((c) => c.target && c.unit.length <= p.remaining());
    const best = pick(ok, p.policy.nearEqual);
    const hv = volume(h.load).toFixed(1);
    const why = `${h.host.name} is hot (${describe(h.load)}; over ${pct(p.policy.threshold)} in ${p.overCount(h)}, volume ${hv})`;
    if (best) {
      const top = ok.reduce((a, b) => (b.vsr > a.vsr ? b : a));
      const cheaper = top !== best ? `, chosen over ${top.unit[0]!.name} (VSR within ${pct(p.policy.nearEqual)}) because it migrates cheaper (${best.cost.seconds.toFixed(1)} s vs ${top.cost.seconds.toFixed(1)} s)` : '';
      const t = best.target!;
      const names = best.unit.map((v) => v.name).join(', ');
      const grouped = best.unit.length > 1 ? ` together with its group (${names})` : '';
      p.apply(
        best.unit.map((vm) => ({ vm, to: t.host.name })),
        best.unit.length > 1 ? 'group' : 'move',
        (s) => `${why}: move ${s.vm.name}${grouped}, highest volume-to-size ratio there${cheaper}, to ${t.host.name}, the least loaded host that can take it.`,
      );
      continue;
    }
    if (cands.some((c) => c.target)) {
      p.notes.push(`concurrency limit of ${p.policy.maxMoves} moves reached; ${h.host.name} is still hot`);
      return;
    }
    if (swap(p, h, targets, cands, why)) continue;
    unresolved.add(h.host.name);
    const reasons = cands.length === 0 ? 'no VM on it may move' : cands.map((c) => `${c.unit[0]!.name}: ${c.why}`).join('; ');
    p.notes.push(`${why}, but nothing fits and no swap helps — ${reasons}.`);
  }
}

/** The movable units on a hot host, each with the least loaded target that takes it (or why none). */
function candidates(p: Planner, h: HostState, targets: readonly HostState[]): Candidate[] {
  const seen = new Set<string>();
  const out: Candidate[] = [];
  for (const name of [...h.vms].sort(byName)) {
    if (seen.has(name)) continue;
    const unit = p.unitOf(p.vms.get(name)!);
    for (const v of unit) seen.add(v.name);
    const blocked = unit.find((v) => p.moved.has(v.name) || p.cooling(v.name));
    if (blocked) {
      if (p.cooling(blocked.name)) p.notes.push(`${blocked.name} was moved less than ${Math.round(p.policy.cooldownMs / 1000)} s ago; it stays on ${h.host.name} (cooldown).`);
      continue;
    }
    const vol = unit.reduce((s, v) => s + volume(p.share(v, h.host)), 0);
    const size = unit.reduce((s, v) => s + v.memoryMiB, 0);
    const cost = unit.map((v) => p.cost(v)).reduce(addCost);
    const c: Candidate = { unit, vsr: vol / size, cost };
    let first: string | undefined;
    for (const t of targets) {
      const why = p.whyNot(unit, t);
      if (!why) {
        c.target = t;
        break;
      }
      first ??= why;
    }
    if (!c.target) c.why = targets.length === 0 ? 'no other host is up and cool' : `no host can take it (least loaded: ${first})`;
    out.push(c);
  }
  return out;
}

/** Highest VSR; among those within `nearEqual` of it, the cheapest; then by name. */
function pick(cands: readonly Candidate[], nearEqual: number): Candidate | undefined {
  if (cands.length === 0) return undefined;
  const top = Math.max(...cands.map((c) => c.vsr));
  return cands
    .filter((c) => c.vsr >= top * (1 - nearEqual))
    .sort((a, b) => a.cost.seconds - b.cost.seconds || b.vsr - a.vsr || byName(a.unit[0]!.name, b.unit[0]!.name))[0];
}

/** Swap a hot VM (highest VSR first) with up to MAX_SWAP_PEERS of the coolest VMs of a target. */
function swap(p: Planner, h: HostState, targets: readonly HostState[], cands: readonly Candidate[], why: string): boolean {
  const hot = cands.filter((c) => c.unit.length === 1 && !p.grouped(c.unit[0]!.name)).sort((a, b) => b.vsr - a.vsr || byName(a.unit[0]!.name, b.unit[0]!.name));
  for (const c of hot) {
    const x = c.unit[0]!;
    const before = volume(h.load);
    for (const t of targets) {
      const cool = [...t.vms]
        .map((n) => p.vms.get(n)!)
        .filter((v) => !p.moved.has(v.name) && !p.cooling(v.name) && !p.grouped(v.name))
        .sort((a, b) => volume(p.share(a, t.host)) - volume(p.share(b, t.host)) || byName(a.name, b.name));
      const peers: BalanceVm[] = [];
      for (const v of cool) {
        if (peers.length >= MAX_SWAP_PEERS || peers.length + 2 > p.remaining()) break;
        peers.push(v);
        if (p.whyNot([x], t, peers)) continue;
        if (p.whyNot(peers, h, [x])) continue;
        let after = add(h.load, p.share(x, h.host), -1);
        for (const v of peers) after = add(after, p.share(v, h.host));
        if (volume(after) >= before) continue;
        const names = peers.map((v) => v.name).join(', ');
        p.apply([{ vm: x, to: t.host.name }, ...peers.map((vm) => ({ vm, to: h.host.name }))], 'swap', (s) =>
          s.vm === x
            ? `${why}; no host can take ${x.name} as it is, so it swaps places with ${names} from ${t.host.name}.`
            : `${s.vm.name} makes room on ${t.host.name} for ${x.name} from hot ${h.host.name} (swap).`,
        );
        return true;
      }
    }
  }
  return false;
}

/** Density: drain the least loaded hosts, each completely or not at all, onto the fullest that fit. */
function pack(p: Planner, powerOff: string[]): void {
  const hosts = p.upHosts().sort((a, b) => volume(a.load) - volume(b.load) || a.vms.size - b.vms.size || byName(a.host.name, b.host.name));
  const receivers = new Set<string>();
  for (const d of hosts) {
    if (d.vms.size === 0) {
      powerOff.push(d.host.name);
      continue;
    }
    if (receivers.has(d.host.name)) continue;
    if (d.vms.size > p.remaining()) {
      if (p.remaining() > 0) p.notes.push(`${d.host.name} has ${d.vms.size} VMs, more than the ${p.remaining()} moves left in this plan; not drained.`);
      continue;
    }
    const gone = new Set(powerOff);
    const targets = p
      .upHosts()
      .filter((s) => s !== d && !gone.has(s.host.name))
      .sort((a, b) => volume(b.load) - volume(a.load) || byName(a.host.name, b.host.name));
    const start = p.moves.length;
    const used: string[] = [];
    let failed: string | undefined;
    for (const name of [...d.vms].sort(byName)) {
      const vm = p.vms.get(name)!;
      if (p.moved.has(name)) continue;
      if (p.cooling(name)) {
        failed = `${name} is in its cooldown`;
        break;
      }
      const unit = p.unitOf(vm);
      const t = targets.find((s) => !p.whyNot(unit, s));
      if (!t) {
        failed = `no host can take ${name}`;
        break;
      }
      used.push(t.host.name);
      p.apply(
        unit.map((v) => ({ vm: v, to: t.host.name })),
        unit.length > 1 ? 'group' : 'move',
        (s) => `Density: drain ${d.host.name} (${describe(d.load)}) so it can be powered off; ${s.vm.name} goes to ${t.host.name}, the fullest host that can take it.`,
      );
    }
    if (failed) {
      p.rollback(p.moves.length - start);
      p.notes.push(`${d.host.name} cannot be drained: ${failed}.`);
      continue;
    }
    for (const u of used) receivers.add(u);
    const group = `drain-${d.host.name}`;
    for (const m of p.moves.slice(start)) m.group = group;
    powerOff.push(d.host.name);
  }
}
