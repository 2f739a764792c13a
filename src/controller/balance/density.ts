// Density mode: drain the least loaded hosts, each completely or not at all, onto the fullest
// hosts that stay under the threshold (best fit); a drained host is listed for power-off.
import { whyNot } from './capacity.js';
import { describe, type PlanState } from './host-state.js';
import { byName } from './model.js';
import { volume } from './profiles.js';

export function pack(st: PlanState, powerOff: string[]): void {
  const hosts = st.upHosts().sort((a, b) => volume(a.load) - volume(b.load) || a.vms.size - b.vms.size || byName(a.host.name, b.host.name));
  const receivers = new Set<string>();
  for (const d of hosts) {
    if (d.vms.size === 0) {
      powerOff.push(d.host.name);
      continue;
    }
    if (receivers.has(d.host.name)) continue;
    if (d.vms.size > st.remaining()) {
      if (st.remaining() > 0) st.notes.push(`${d.host.name} has ${d.vms.size} VMs, more than the ${st.remaining()} moves left in this plan; not drained.`);
      continue;
    }
    const gone = new Set(powerOff);
    const targets = st
      .upHosts()
      .filter((s) => s !== d && !gone.has(s.host.name))
      .sort((a, b) => volume(b.load) - volume(a.load) || byName(a.host.name, b.host.name));
    const start = st.moves.length;
    const used: string[] = [];
    let failed: string | undefined;
    for (const name of [...d.vms].sort(byName)) {
      const vm = st.vms.get(name)!;
      if (st.moved.has(name)) continue;
      if (st.rules.cooling(name)) {
        failed = `${name} is in its cooldown`;
        break;
      }
      const unit = st.unitOf(vm);
      const t = targets.find((s) => !whyNot(st, unit, s));
      if (!t) {
        failed = `no host can take ${name}`;
        break;
      }
      used.push(t.host.name);
      st.apply(
        unit.map((v) => ({ vm: v, to: t.host.name })),
        unit.length > 1 ? 'group' : 'move',
        (s) => `Density: drain ${d.host.name} (${describe(d.load)}) so it can be powered off; ${s.vm.name} goes to ${t.host.name}, the fullest host that can take it.`,
      );
    }
    if (failed) {
      st.rollback(st.moves.length - start);
      st.notes.push(`${d.host.name} cannot be drained: ${failed}.`);
      continue;
    }
    for (const u of used) receivers.add(u);
    const group = `drain-${d.host.name}`;
    for (const m of st.moves.slice(start)) m.group = group;
    powerOff.push(d.host.name);
  }
}
