// The agent's end of `ferry vm console --attach` (src/contracts/console-attach.ts): an upgraded
// connection, authenticated with the cluster secret, joined to the VM's serial console socket.
// One attach per VM: QEMU's chardev serves one client, a second would wait unseen.
import type { Server } from 'node:http';
import { connect } from 'node:net';
import { AGENT_API_PREFIX, bearerMatches } from '../contracts/index.js';
import { acceptUpgrade, attachTarget, CONSOLE_UPGRADE, refuseUpgrade, splice } from '../contracts/console-attach.js';
import { connectablePath } from './launch.js';
import type { VmManager } from './manager.js';

export function serveConsoleAttach(server: Server, secret: string, mgr: VmManager): void {
  const attached = new Set<string>();
  server.on('upgrade', (req, socket) => {
    const name = attachTarget(req, AGENT_API_PREFIX);
    socket.on('error', () => undefined);
    if (!name || req.headers.upgrade !== CONSOLE_UPGRADE) return refuseUpgrade(socket, 404, 'NOT_FOUND', 'no such upgrade');
    if (!bearerMatches(req.headers.authorization, [secret])) return refuseUpgrade(socket, 401, 'UNAUTHORIZED', 'missing or invalid credential');
    const vm = mgr.vms.get(name);
    if (!vm || vm.rec.state === 'stopped' || vm.rec.state === 'crashed') return refuseUpgrade(socket, 409, 'INVALID_STATE', `vm ${name} is not running here`);
    if (attached.has(name)) return refuseUpgrade(socket, 409, 'CONFLICT', `someone is attached to ${name}'s console already`);
    const serial = connect(connectablePath(vm.paths.consoleSock));
    attached.add(name);
    serial.once('close', () => attached.delete(name));
    serial.once('error', (err) => {
      if (!socket.destroyed) refuseUpgrade(socket, 502, 'QEMU_FAILED', `console of ${name}: ${err.message}`);
    });
    serial.once('connect', () => {
      acceptUpgrade(socket);
      splice(socket, serial);
    });
  });
}
