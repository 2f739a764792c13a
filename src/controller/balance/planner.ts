// The load-balancing planner: (cluster snapshot, policy, history) → plan. Pure and
// deterministic — no I/O, no clock (the caller passes `nowMs`), ties broken by name — so it is
// tested with tables and the executor alone touches the cluster (DESIGN: schedulers are pure
// functions from a snapshot to a plan).
//
// Performance mode (Sandpiper), here: while some host is hot (k of its last n samples over the
// threshold, and still over it after the moves planned so far), take the hottest one and move
// the VM with the highest volume-to-size ratio to the least loaded host that can take it without
// becoming hot itself (candidates.ts). Among near-equal VSRs the cheaper migration wins. When no
// VM fits anywhere, swap a hot VM with up to MAX_SWAP_PEERS cooler VMs of a target host, in an
// executable order (swap.ts); otherwise the plan says why nothing fits.
// Density mode: density.ts. Both: capacity.ts (memory, vCPUs, must not become hot), rules.ts
// (`together`, `apart`, cooldown), cost.ts (predicted and learned migration cost), a limit on
// moves per plan. Every plan can be carried out in list order, each move once those before it
// completed: each was checked against the cluster as the earlier moves leave it.
import type { BalancePlan, BalancePolicy } from '../../contracts/balance.js';
import { candidates, pick } from './candidates.js';
import { pack } from './density.js';
import { pct } from '../../contracts/format.js';
import { describe, PlanState } from './host-state.js';
import { byName, type BalanceHistory, type BalanceSnapshot } from './model.js';
import { peak, volume } from './profiles.js';
import { swap } from './swap.js';

export { HISTORY_DEPTH, predictCost } from './cost.js';
export type { BalanceHistory, BalanceHost, BalanceSnapshot, BalanceVm, PastMigration } from './model.js';
export { MAX_SWAP_PEERS } from './swap.js';

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

export function plan(snapshot: BalanceSnapshot, policy: BalancePolicy, history: BalanceHistory): BalancePlan {
  const st = new PlanState(snapshot, policy, history);
  const imbalanceBefore = st.imbalance();
  const hotspots = st
    .upHosts()
    .filter((s) => s.hot)
    .map((s) => s.host.name)
    .sort(byName);
  const powerOff: string[] = [];
  if (policy.mode === 'density') pack(st, powerOff);
  else spreadLoad(st);
  return { mode: policy.mode, hotspots, moves: st.moves, powerOff, notes: st.notes, imbalanceBefore, imbalanceAfter: st.imbalance() };
}

function spreadLoad(st: PlanState): void {
  const unresolved = new Set<string>();
  const { threshold, maxMoves, nearEqual } = st.policy;
  for (;;) {
    const hot = st
      .upHosts()
      .filter((s) => s.hot && peak(s.load) > threshold && !unresolved.has(s.host.name))
      .sort((a, b) => volume(b.load) - volume(a.load) || byName(a.host.name, b.host.name));
    const h = hot[0];
    if (!h) return;
    if (st.remaining() <= 0) {
      st.notes.push(`concurrency limit of ${maxMoves} moves reached; still hot: ${hot.map((s) => s.host.name).join(', ')}`);
      return;
    }
    const targets = st
      .upHosts()
      .filter((s) => s !== h && peak(s.load) <= threshold)
      .sort((a, b) => volume(a.load) - volume(b.load) || byName(a.host.name, b.host.name));
    const cands = candidates(st, h, targets);
    const ok = cands.filter((c) => c.target && c.unit.length <= st.remaining());
    const best = pick(ok, nearEqual);
    const why = `${h.host.name} is hot (${describe(h.load)}; over ${pct(threshold)} in ${st.overCount(h)}, volume ${volume(h.load).toFixed(1)})`;
    if (best) {
      const top = ok.reduce((a, b) => (b.vsr > a.vsr ? b : a));
      const cheaper = top !== best ? `, chosen over ${top.unit[0]!.name} (VSR within ${pct(nearEqual)}) because it migrates cheaper (${best.cost.seconds.toFixed(1)} s vs ${top.cost.seconds.toFixed(1)} s)` : '';
      const t = best.target!;
      const names = best.unit.map((v) => v.name).join(', ');
      const grouped = best.unit.length > 1 ? ` together with its group (${names})` : '';
      st.apply(
        best.unit.map((vm) => ({ vm, to: t.host.name })),
        best.unit.length > 1 ? 'group' : 'move',
        (s) => `${why}: move ${s.vm.name}${grouped}, highest volume-to-size ratio there${cheaper}, to ${t.host.name}, the least loaded host that can take it.`,
      );
      continue;
    }
    if (cands.some((c) => c.target)) {
      st.notes.push(`concurrency limit of ${maxMoves} moves reached; ${h.host.name} is still hot`);
      return;
    }
    if (swap(st, h, targets, cands, why)) continue;
    unresolved.add(h.host.name);
    const reasons = cands.length === 0 ? 'no VM on it may move' : cands.map((c) => `${c.unit[0]!.name}: ${c.why}`).join('; ');
    st.notes.push(`${why}, but nothing fits and no swap helps — ${reasons}.`);
  }
}
