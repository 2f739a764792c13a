// QEMU's migration stream onto the transport, on each side. Passthrough and chunked: QEMU
// writes into a Unix socket of ours (source) or reads from its own (target), and a relay joins
// that socket to channel 0 of the data session (../data-plane/relay.ts). Direct: QEMU connects to
// the target's QEMU over QEMU's TLS (../data-plane/qemu-tls.ts), the target admitting only the
// source host's certificate, the source checking that the target's names the target host.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { FerryError, type IncomingMigrationRequest, type OutgoingMigrationRequest } from '../../contracts/index.js';
import { connectablePath } from '../launch.js';
import { qmp } from '../qemu/monitor.js';
import type { VmRuntime } from '../vm-runtime.js';
import { parseDataUrl, type DataPlane } from '../data-plane/plane.js';
import { addQemuTls, type QemuTls } from '../data-plane/qemu-tls.js';
import { acceptOne, connectUnix, relay, type Relay } from '../data-plane/relay.js';
import { tcpUri } from './qemu-setup.js';

const QEMU_CONNECT_TIMEOUT_MS = 10_000;

const incomingSocket = (vm: VmRuntime): string => connectablePath(join(vm.paths.dir, 'mig-in.sock'));
const outgoingSocket = (vm: VmRuntime): string => connectablePath(join(vm.paths.dir, 'mig-out.sock'));

function identityOf(plane: DataPlane) {
  const identity = plane.tlsIdentity();
  if (!identity) throw new FerryError('INVALID_STATE', 'this host has no data-plane certificate yet');
  return identity;
}

/** Direct transport, source: this host's certificate in QEMU, and the target host's name to check. */
export async function sourceTls(vm: VmRuntime, plane: DataPlane, req: OutgoingMigrationRequest, signal: AbortSignal): Promise<QemuTls> {
  if (req.targetDirectPort === undefined) throw new FerryError('INVALID_REQUEST', 'transport direct needs targetDirectPort', { field: 'body.targetDirectPort' });
  const tls = await addQemuTls(vm, identityOf(plane), req.migrationId, 'client', req.targetHost, signal);
  try {
    await qmp(vm, 'migrate-set-parameters', { 'tls-creds': tls.credsId, 'tls-hostname': req.targetHost }, { signal });
  } catch (err) {
    await tls.remove();
    throw err;
  }
  return tls;
}

/**
 * Source: starts QEMU's migration, straight to the target's QEMU (direct, no relay) or into our
 * socket, relayed onto `channel`; `onError` hears the relay's first failure.
 */
export async function startOutgoing(vm: VmRuntime, req: OutgoingMigrationRequest, channel: () => Duplex, signal: AbortSignal, onError: (err: Error) => void): Promise<Relay | undefined> {
  if (req.transport === 'direct') {
    await qmp(vm, 'migrate', { uri: tcpUri(parseDataUrl(req.targetDataUrl).host, req.targetDirectPort!) }, { signal });
    return undefined;
  }
  const path = outgoingSocket(vm);
  const listener = await acceptOne(path, QEMU_CONNECT_TIMEOUT_MS, signal);
  try {
    await qmp(vm, 'migrate', { uri: `unix:${path}` }, { signal });
  } catch (err) {
    listener.close();
    throw err;
  }
  const qemu = await listener.accepted;
  if (signal.aborted) {
    qemu.destroy();
    throw new FerryError('ABORTED', `migration of vm ${vm.name} ended while QEMU connected`);
  }
  return relay(qemu, channel(), onError);
}

/**
 * Target: QEMU listens for the stream — on its Unix socket, or (direct) on TCP at the plane's
 * address with TLS admitting only the source host. Returns the TLS objects (direct) and the port
 * the controller passes on to the source (direct).
 */
export async function listenIncoming(vm: VmRuntime, req: IncomingMigrationRequest, plane: DataPlane, signal: AbortSignal): Promise<{ tls?: QemuTls; port?: number }> {
  if (req.transport !== 'direct') {
    rmSync(incomingSocket(vm), { force: true });
    await qmp(vm, 'migrate-incoming', { uri: `unix:${incomingSocket(vm)}` }, { signal });
    return {};
  }
  const tls = await addQemuTls(vm, identityOf(plane), req.migrationId, 'server', req.sourceHost, signal);
  try {
    await qmp(vm, 'migrate-set-parameters', { 'tls-creds': tls.credsId, 'tls-authz': tls.authzId! }, { signal });
    await qmp(vm, 'migrate-incoming', { uri: tcpUri(plane.host, 0) }, { signal });
    const info = await qmp(vm, 'query-migrate', undefined, { signal });
    const inet = info['socket-address']?.find((a) => a.type === 'inet');
    const port = Number(inet?.type === 'inet' ? inet.port : undefined);
    if (!Number.isInteger(port) || port <= 0) throw new FerryError('QEMU_FAILED', `QEMU reports no listening port for the incoming migration (${JSON.stringify(info['socket-address'])})`);
    return { tls, port };
  } catch (err) {
    await tls.remove();
    throw err;
  }
}

/** Target, not direct: joins `channel` to QEMU's incoming socket. */
export async function joinIncoming(vm: VmRuntime, channel: Duplex, signal: AbortSignal, onError: (err: Error) => void): Promise<Relay> {
  const qemu = await connectUnix(incomingSocket(vm), QEMU_CONNECT_TIMEOUT_MS, signal);
  if (signal.aborted) {
    qemu.destroy();
    throw new FerryError('ABORTED', `migration of vm ${vm.name} ended while joining QEMU's stream`);
  }
  return relay(qemu, channel, onError);
}
