// The operator's constraints on which VMs may move where: `together` groups (merged when rules
// share a VM), `apart` sets, and the per-VM cooldown after a migration.
import type { BalancePolicy } from '../../contracts/balance.js';
import { byName, type BalanceHistory } from './model.js';

export class Rules {
  private readonly together = new Map<string, string[]>();
  private readonly apart = new Map<string, Set<string>>();
  private readonly lastMove = new Map<string, number>();

  constructor(
    private readonly policy: BalancePolicy,
    private readonly history: BalanceHistory,
  ) {
    for (const m of history.migrations) this.lastMove.set(m.vm, Math.max(m.atMs, this.lastMove.get(m.vm) ?? -Infinity));
    // `together` rules that share a VM merge into one group (union by smallest name).
    const root = new Map<string, string>();
    const find = (v: string): string => {
      let r = v;
      while (root.has(r) && root.get(r) !== r) r = root.get(r)!;
      return r;
    };
    for (const rule of policy.rules) {
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
    for (const rule of policy.rules) {
      if (rule.kind !== 'together') continue;
      for (const v of rule.vms) {
        const g = groups.get(find(v)) ?? groups.set(find(v), []).get(find(v))!;
        if (!g.includes(v)) g.push(v);
      }
    }
    for (const g of groups.values()) for (const v of g) this.together.set(v, g.sort(byName));
  }

  /** Moved less than the policy's cooldown ago (a failed attempt counts too). */
  cooling(vm: string): boolean {
    const at = this.lastMove.get(vm);
    return at !== undefined && this.history.nowMs - at < this.policy.cooldownMs;
  }

  /** The VM's `together` group, sorted by name, or undefined. */
  groupOf(vm: string): readonly string[] | undefined {
    return this.together.get(vm);
  }

  apartFrom(vm: string): ReadonlySet<string> {
    return this.apart.get(vm) ?? new Set();
  }
}
