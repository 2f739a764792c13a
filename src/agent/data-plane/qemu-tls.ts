// The `direct` transport: QEMU talks to QEMU over QEMU's own TLS (gnutls), mutually
// authenticated with the host certificates the cluster CA issued to the agents. The agents only
// set it up: a `tls-creds-x509` object with this host's certificate on both sides, and on the
// target an `authz-simple` object admitting exactly the source host's certificate (its DN is
// `CN=<host>`); the source checks the target's certificate names the target host
// (`tls-hostname`). QEMU reads the files when the object is created, so they exist only for
// that moment (the key never stays in the VM's directory).
// Pre-copy uses multifd (several TCP connections, each encrypted in its own thread); post-copy
// and hybrid run one stream, since QEMU 10 does not combine post-copy with multifd.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ConcreteStrategy } from '../../contracts/index.js';
import { log } from '../log.js';
import { qmpCall } from '../qmp-call.js';
import type { VmRuntime } from '../vm-runtime.js';
import type { TlsIdentity } from './tls-identity.js';

export const DIRECT_MULTIFD_CHANNELS = 2;

/** Whether a direct migration with this strategy runs multifd (both sides must agree). */
export function directMultifd(strategy: ConcreteStrategy): boolean {
  return strategy === 'precopy';
}

export interface QemuTls {
  /** Id of the tls-creds-x509 object, for the `tls-creds` migration parameter. */
  readonly credsId: string;
  /** Id of the authz-simple object (target only), for `tls-authz`. */
  readonly authzId: string | undefined;
  /** Drops the objects and turns TLS off for the VM's next migration. Never throws. */
  remove(): Promise<void>;
}

/**
 * Installs this host's TLS identity in the VM's QEMU for one migration. `role` is QEMU's TLS
 * role: the source connects (client), the target listens (server) and admits only `peerHost`.
 */
export async function addQemuTls(vm: VmRuntime, identity: TlsIdentity, migrationId: string, role: 'client' | 'server', peerHost: string): Promise<QemuTls> {
  const tag = migrationId.replace(/[^A-Za-z0-9]/g, '').slice(0, 24);
  const credsId = `ferry-tls-${tag}`;
  const authzId = role === 'server' ? `ferry-authz-${tag}` : undefined;
  const dir = join(vm.paths.dir, `tls-${tag}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    writeFileSync(join(dir, 'ca-cert.pem'), identity.caPem, { mode: 0o600 });
    writeFileSync(join(dir, `${role}-cert.pem`), identity.certPem, { mode: 0o600 });
    writeFileSync(join(dir, `${role}-key.pem`), identity.keyPem, { mode: 0o600 });
    await qmpCall(vm, 'object-add', { 'qom-type': 'tls-creds-x509', id: credsId, dir, endpoint: role, 'verify-peer': true });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const tls: QemuTls = {
    credsId,
    authzId,
    async remove() {
      const calls: [string, Record<string, unknown>][] = [
        ['migrate-set-parameters', { 'tls-creds': '', 'tls-hostname': '', 'tls-authz': '' }],
        ['object-del', { id: credsId }],
        ...(authzId ? [['object-del', { id: authzId }] as [string, Record<string, unknown>]] : []),
      ];
      for (const [cmd, args] of calls) {
        await qmpCall(vm, cmd, args).catch((err: Error) => log('vm %s: %s %s: %s', vm.name, cmd, JSON.stringify(args), err.message));
      }
    },
  };
  if (authzId) {
    try {
      await qmpCall(vm, 'object-add', { 'qom-type': 'authz-simple', id: authzId, identity: `CN=${peerHost}` });
    } catch (err) {
      await tls.remove();
      throw err;
    }
  }
  return tls;
}

/** `tcp:` URI for QEMU (IPv6 literals in brackets). */
export function tcpUri(host: string, port: number): string {
  return `tcp:${host.includes(':') ? `[${host}]` : host}:${port}`;
}
