// The `direct` transport's security: QEMU talks to QEMU over QEMU's own TLS (gnutls), mutually
// authenticated with the host certificates the cluster CA issued to the agents. The agents only
// set it up: a `tls-creds-x509` object with this host's certificate on both sides, and on the
// target an `authz-simple` object admitting exactly the source host's certificate (its DN is
// `CN=<host>`); the source checks the target's certificate names the target host
// (`tls-hostname`). QEMU reads the files when the object is created, so they exist only for
// that moment (the key never stays in the VM's directory). Which QEMU streams run over it
// (multifd or one) is the migration's business (../migration/qemu-setup.ts).
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { log } from '../log.js';
import { qmp } from '../qemu/monitor.js';
import type { VmRuntime } from '../vm-runtime.js';
import type { TlsIdentity } from './tls-identity.js';

export interface QemuTls {
  /** Id of the tls-creds-x509 object, for the `tls-creds` migration parameter. */
  readonly credsId: string;
  /** Id of the authz-simple object (target only), for `tls-authz`. */
  readonly authzId: string | undefined;
  /** Drops the objects and turns TLS off for the VM's next migration. Never throws. In a teardown (no signal) its calls carry their timeouts only. */
  remove(signal?: AbortSignal): Promise<void>;
}

/**
 * Installs this host's TLS identity in the VM's QEMU for one migration. `role` is QEMU's TLS
 * role: the source connects (client), the target listens (server) and admits only `peerHost`.
 */
export async function addQemuTls(vm: VmRuntime, identity: TlsIdentity, migrationId: string, role: 'client' | 'server', peerHost: string, signal: AbortSignal): Promise<QemuTls> {
  const tag = migrationId.replace(/[^A-Za-z0-9]/g, '').slice(0, 24);
  const credsId = `ferry-tls-${tag}`;
  const authzId = role === 'server' ? `ferry-authz-${tag}` : undefined;
  const dir = join(vm.paths.dir, `tls-${tag}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    writeFileSync(join(dir, 'ca-cert.pem'), identity.caPem, { mode: 0o600 });
    writeFileSync(join(dir, `${role}-cert.pem`), identity.certPem, { mode: 0o600 });
    writeFileSync(join(dir, `${role}-key.pem`), identity.keyPem, { mode: 0o600 });
    await qmp(vm, 'object-add', { 'qom-type': 'tls-creds-x509', id: credsId, dir, endpoint: role, 'verify-peer': true }, { signal });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const tls: QemuTls = {
    credsId,
    authzId,
    async remove(signal) {
      const opts = signal ? { signal } : {};
      const quiet = (what: string) => (err: Error) => log('vm %s: %s: %s', vm.name, what, err.message);
      await qmp(vm, 'migrate-set-parameters', { 'tls-creds': '', 'tls-hostname': '', 'tls-authz': '' }, opts).catch(quiet('turning migration TLS off'));
      await qmp(vm, 'object-del', { id: credsId }, opts).catch(quiet(`object-del ${credsId}`));
      if (authzId) await qmp(vm, 'object-del', { id: authzId }, opts).catch(quiet(`object-del ${authzId}`));
    },
  };
  if (authzId) {
    try {
      await qmp(vm, 'object-add', { 'qom-type': 'authz-simple', id: authzId, identity: `CN=${peerHost}` }, { signal });
    } catch (err) {
      await tls.remove();
      throw err;
    }
  }
  return tls;
}
