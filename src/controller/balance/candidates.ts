// Performance mode's choice on one hot host: its movable units (a VM, or a `together` group),
// each with its volume-to-size ratio (VSR), predicted cost and the least loaded host that takes
// it; then the pick — the highest VSR, or among near-equal VSRs the cheapest migration.
import { addCost, type Cost } from './cost.js';
import { whyNot } from './capacity.js';
import type { HostState, PlanState } from './host-state.js';
import { byName, type BalanceVm } from './model.js';
import { volume } from './profiles.js';

export interface Candidate {
  unit: BalanceVm[];
  vsr: number;
  cost: Cost;
  target?: HostState;
  why?: string;
}

/** The movable units on a hot host, each with the least loaded target that takes it (or why none). */
export function candidates(st: PlanState, h: HostState, targets: readonly HostState[]): Candidate[] {
  const seen = new Set<string>();
  const out: Candidate[] = [];
  for (const name of [...h.vms].sort(byName)) {
    if (seen.has(name)) continue;
    const unit = st.unitOf(st.vms.get(name)!);
    for (const v of unit) seen.add(v.name);
    const blocked = unit.find((v) => st.pinned(v.name));
    if (blocked) {
      if (st.rules.cooling(blocked.name)) st.notes.push(`${blocked.name} was moved less than ${Math.round(st.policy.cooldownMs / 1000)} s ago; it stays on ${h.host.name} (cooldown).`);
      continue;
    }
    const vol = unit.reduce((s, v) => s + volume(st.share(v, h.host)), 0);
    const size = unit.reduce((s, v) => s + v.memoryMiB, 0);
    const cost = unit.map((v) => st.cost(v)).reduce(addCost);
    const c: Candidate = { unit, vsr: vol / size, cost };
    let first: string | undefined;
    for (const t of targets) {
      const why = whyNot(st, unit, t);
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
export function pick(cands: readonly Candidate[], nearEqual: number): Candidate | undefined {
  if (cands.length === 0) return undefined;
  const top = Math.max(...cands.map((c) => c.vsr));
  return cands
    .filter((c) => c.vsr >= top * (1 - nearEqual))
    .sort((a, b) => a.cost.seconds - b.cost.seconds || b.vsr - a.vsr || byName(a.unit[0]!.name, b.unit[0]!.name))[0];
}
