// What Ferry can see of any guest (src/contracts/guest-health.ts): QEMU's run state, the guest
// agent's answer to guest-ping (when the VM has one), and each forwarded port. A port is open
// when a connection through its forward is still up after PORT_SETTLE_MS or brings data: QEMU's
// user-mode forward accepts every connection on the host side and drops it at once when nothing
// listens in the guest.
import { connect } from 'node:net';
import type { GuestHealth, HealthItem } from '../../contracts/index.js';
import { qmp } from '../qemu/monitor.js';
import type { VmRuntime } from '../vm-runtime.js';
import { qgaCall } from './qga.js';

const PORT_SETTLE_MS = 400;
const PORT_TIMEOUT_MS = 3_000;

function portOpen(host: string, port: number): Promise<{ ok: boolean; detail: string }> {
  return new Promise((resolve) => {
    const sock = connect(port, host);
    const done = (ok: boolean, detail: string): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ ok, detail });
    };
    const timer = setTimeout(() => done(false, `no connection within ${PORT_TIMEOUT_MS} ms`), PORT_TIMEOUT_MS);
    sock.once('connect', () => {
      clearTimeout(timer);
      const settle = setTimeout(() => done(true, `a connection through ${host}:${port} stays open`), PORT_SETTLE_MS);
      sock.once('data', () => {
        clearTimeout(settle);
        done(true, `the guest answered through ${host}:${port}`);
      });
      sock.once('close', () => {
        clearTimeout(settle);
        done(false, `the guest closed the connection at once (nothing listens?)`);
      });
    });
    sock.once('error', (err) => done(false, err.message));
  });
}

export async function guestHealth(vm: VmRuntime, host: string, signal?: AbortSignal): Promise<GuestHealth> {
  const items: HealthItem[] = [];
  const state = vm.rec.state;
  let qemu: HealthItem = { name: 'qemu', ok: state === 'running', detail: `the agent has it ${state}` };
  if (vm.qmp && state === 'running') {
    const st = await qmp(vm, 'query-status', undefined, signal ? { signal } : {}).catch((err: Error) => ({ status: `unknown (${err.message})`, running: false }));
    qemu = { name: 'qemu', ok: st.running, detail: `QEMU reports ${st.status}` };
  }
  items.push(qemu);
  if (vm.rec.spec.guestAgent) {
    const ping = await qgaCall(vm.paths.dir, 'guest-ping', undefined, signal ? { signal } : {}).then(() => ({ ok: true, detail: 'qemu-guest-agent answered guest-ping' }), (err: Error) => ({ ok: false, detail: err.message }));
    items.push({ name: 'guest-agent', ...ping });
  }
  for (const ep of vm.rec.endpoints) {
    items.push({ name: `port ${ep.guestPort}`, ...(await portOpen(ep.host, ep.port)) });
  }
  return { vm: vm.name, host, ok: items.every((i) => i.ok), items };
}
