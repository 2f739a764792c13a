// The cluster CA: created on the controller's first start (<dataDir>/ca/key.pem, mode 0600,
// and ca/cert.pem), loaded on every later one. Host certificates for the data plane are
// issued from it when an agent's heartbeat (authenticated by the cluster secret) carries a CSR
// for its own host name; see host-monitor.ts.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCa, type KeyAndCert } from '../pki/index.js';

export const CA_COMMON_NAME = 'ferry cluster CA';

export async function loadOrCreateCa(dataDir: string): Promise<KeyAndCert> {
  const dir = join(dataDir, 'ca');
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  if (existsSync(keyFile) && existsSync(certFile)) return { keyPem: readFileSync(keyFile, 'utf8'), certPem: readFileSync(certFile, 'utf8') };
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = await createCa(CA_COMMON_NAME);
  // Key first and renamed into place, so a crash never leaves a certificate without its key.
  writeFileSync(`${keyFile}.tmp`, ca.keyPem, { mode: 0o600 });
  chmodSync(`${keyFile}.tmp`, 0o600);
  renameSync(`${keyFile}.tmp`, keyFile);
  writeFileSync(`${certFile}.tmp`, ca.certPem);
  renameSync(`${certFile}.tmp`, certFile);
  return ca;
}
