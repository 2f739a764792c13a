// The cluster CA: created on the controller's first start (<dataDir>/ca/key.pem, mode 0600,
// and ca/cert.pem), or by `ferry controller init`, and loaded on every later start. Host
// certificates are issued from it when a host joins and renewed over mutual TLS
// (enrolment/service.ts); the controller's own certificate too (tls.ts).
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCa, type KeyAndCert } from '../pki/index.js';

export const CA_COMMON_NAME = 'ferry cluster CA';

export async function loadOrCreateCa(dataDir: string): Promise<KeyAndCert> {
  const { keyFile, certFile } = caFiles(dataDir);
  if (existsSync(keyFile) && existsSync(certFile)) return { keyPem: readFileSync(keyFile, 'utf8'), certPem: readFileSync(certFile, 'utf8') };
  const ca = await createCa(CA_COMMON_NAME);
  storeCa(dataDir, ca);
  return ca;
}

const caFiles = (dataDir: string) => ({ dir: join(dataDir, 'ca'), keyFile: join(dataDir, 'ca', 'key.pem'), certFile: join(dataDir, 'ca', 'cert.pem') });

/** Writes the CA where loadOrCreateCa finds it (tests give a controller a CA they made). */
export function storeCa(dataDir: string, ca: KeyAndCert): void {
  const { dir, keyFile, certFile } = caFiles(dataDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // Key first and renamed into place, so a crash never leaves a certificate without its key.
  writeFileSync(`${keyFile}.tmp`, ca.keyPem, { mode: 0o600 });
  chmodSync(`${keyFile}.tmp`, 0o600);
  renameSync(`${keyFile}.tmp`, keyFile);
  writeFileSync(`${certFile}.tmp`, ca.certPem);
  renameSync(`${certFile}.tmp`, certFile);
}
