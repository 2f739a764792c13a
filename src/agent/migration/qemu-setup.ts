// What each side's QEMU is told before a migration: capabilities and parameters for the strategy,
// the transport and local disks (docs/qemu.md "Migration streams", "Post-copy", "Disks").
// The `direct` transport (QEMU to QEMU over QEMU's TLS, ../data-plane/qemu-tls.ts) runs pre-copy
// over multifd, several TCP connections each encrypted in its own thread; post-copy and hybrid run
// one stream, since QEMU 10 does not combine post-copy with multifd. Both sides must agree.
import type { ConcreteStrategy, IncomingMigrationRequest, OutgoingMigrationRequest } from '../../contracts/index.js';
import { qmp } from '../qemu/monitor.js';
import type { VmRuntime } from '../vm-runtime.js';

export const DIRECT_MULTIFD_CHANNELS = 2;
/** QEMU's max-bandwidth when something else (the data plane) caps the link, or nothing does. */
const UNLIMITED_BYTES_PER_SEC = 10 * 1024 ** 3;

/** Whether a direct migration with this strategy runs multifd. */
export function directMultifd(strategy: ConcreteStrategy): boolean {
  return strategy === 'precopy';
}

/** `tcp:` URI for QEMU (IPv6 literals in brackets). */
export function tcpUri(host: string, port: number): string {
  return `tcp:${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * Source QEMU. `qemuCapsBandwidth`: QEMU itself must hold the bandwidth cap (its stream bypasses the
 * data plane, or the plane enforces none). With local disks QEMU stops in pre-switchover so that the
 * disks can be made final before the target may run the guest (source.ts).
 */
export async function configureSource(vm: VmRuntime, req: OutgoingMigrationRequest, qemuCapsBandwidth: boolean, signal: AbortSignal): Promise<void> {
  const postcopy = req.strategy !== 'precopy';
  const multifd = req.transport === 'direct' && directMultifd(req.strategy);
  await qmp(vm, 'migrate-set-capabilities', {
    capabilities: [
      { capability: 'events', state: true },
      // A DR checkpoint (dr/capture.ts) or a restore from one leaves these on, and QEMU refuses
      // auto-converge or post-copy next to them: a protected VM must still migrate live.
      { capability: 'background-snapshot', state: false },
      { capability: 'mapped-ram', state: false },
      { capability: 'auto-converge', state: req.strategy !== 'postcopy' },
      { capability: 'return-path', state: postcopy },
      { capability: 'postcopy-ram', state: postcopy },
      { capability: 'pause-before-switchover', state: req.copyDisks && vm.rec.spec.disks.length > 0 },
      { capability: 'multifd', state: multifd },
    ],
  }, { signal });
  await qmp(vm, 'migrate-set-parameters', {
    'downtime-limit': req.maxDowntimeMs,
    'max-bandwidth': qemuCapsBandwidth ? (req.bandwidthBytesPerSec ?? UNLIMITED_BYTES_PER_SEC) : UNLIMITED_BYTES_PER_SEC,
    'max-postcopy-bandwidth': qemuCapsBandwidth ? (req.bandwidthBytesPerSec ?? 0) : 0,
    'tls-creds': '',
    'tls-hostname': '',
    ...(multifd ? { 'multifd-channels': DIRECT_MULTIFD_CHANNELS, 'multifd-compression': 'none' as const } : {}),
  }, { signal });
}

/** Target QEMU (started with -incoming defer), before migrate-incoming. */
export async function configureTarget(vm: VmRuntime, req: IncomingMigrationRequest, signal: AbortSignal): Promise<void> {
  const postcopy = req.strategy !== 'precopy';
  const multifd = req.transport === 'direct' && directMultifd(req.strategy);
  await qmp(vm, 'migrate-set-capabilities', {
    capabilities: [
      { capability: 'events', state: true },
      { capability: 'return-path', state: postcopy },
      { capability: 'postcopy-ram', state: postcopy },
      { capability: 'postcopy-blocktime', state: postcopy },
      { capability: 'multifd', state: multifd },
    ],
  }, { signal });
  if (multifd) await qmp(vm, 'migrate-set-parameters', { 'multifd-channels': DIRECT_MULTIFD_CHANNELS, 'multifd-compression': 'none' }, { signal });
}
