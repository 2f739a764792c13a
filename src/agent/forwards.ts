// Adds a forwarded guest port to a VM (controller's `expose` of a port its spec lacks): the
// port joins the spec of record (vm.json), so a restart, a migration target launched from it
// and every later DR checkpoint carry it, and a running QEMU gets it at once through HMP
// `hostfwd_add` (QEMU 10: `hostfwd_add [netdev_id] tcp:[hostaddr]:hostport-[guestaddr]:guestport`,
// hmp-commands.hx / net/slirp.c; it answers "" on success, else its complaint in words). QEMU has
// no QMP command for it (user-mode forwards are only settable at netdev_add or through HMP), so
// this is the agent's one `human-monitor-command`.
import { FerryError } from '../contracts/index.js';
import { QemuCommandError } from './errors.js';
import { freeLoopbackPort } from './launch.js';
import { qmp } from './qemu/monitor.js';
import { hostfwdRule, netdevId } from './qemu-command.js';
import type { VmRuntime } from './vm-runtime.js';

/** States in which QEMU runs and its user-mode network can take a new forward. */
const LIVE = new Set(['running', 'paused']);

export function addForward(vm: VmRuntime, guestPort: number, forwards?: { bind: string; shown: string }): Promise<void> {
  return vm.serialize(async () => {
    if (vm.migrationId) throw new FerryError('INVALID_STATE', `vm ${vm.name} is migrating; expose its port afterwards`);
    const nic = vm.rec.spec.nics[0];
    if (!nic) throw new FerryError('INVALID_STATE', `vm ${vm.name} has no network interface`);
    if (nic.network !== 'user') throw new FerryError('INVALID_STATE', `vm ${vm.name}'s first NIC is bridged: clients on its segment reach it at its own address`);
    const declared = nic.forwardPorts ?? [];
    const live = LIVE.has(vm.rec.state) && vm.qmp !== undefined;
    if (declared.includes(guestPort) && (!live || vm.rec.endpoints.some((e) => e.guestPort === guestPort))) return;
    let endpoints = vm.rec.endpoints;
    if (live) {
      const port = await freeLoopbackPort(forwards?.bind);
      const out = await qmp(vm, 'human-monitor-command', { 'command-line': `hostfwd_add ${netdevId(0)} ${hostfwdRule(port, guestPort, forwards?.bind)}` });
      if (out.trim() !== '') throw new QemuCommandError('hostfwd_add', 'GenericError', `${out.trim()} (vm ${vm.name})`);
      endpoints = [...endpoints, { guestPort, host: forwards?.shown ?? '127.0.0.1', port }];
    }
    const nics = vm.rec.spec.nics.map((n, i) => (i === 0 && n.network === 'user' && !declared.includes(guestPort) ? { ...n, forwardPorts: [...declared, guestPort] } : n));
    // A new revision: a heartbeat collected before this must not put the old endpoints back.
    vm.rec = { ...vm.rec, spec: { ...vm.rec.spec, nics }, endpoints, rev: (vm.rec.rev ?? 0) + 1 };
    vm.save();
  });
}
