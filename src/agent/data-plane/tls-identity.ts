// The host's data-plane identity: a key made here (never leaves <dataDir>/tls), a CSR sent in
// heartbeats, and the certificate + CA certificate the controller answers with. Files are
// written atomically; the key is readable by the owner only.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createKeyAndCsr } from '../../pki/index.js';

export interface TlsIdentity {
  keyPem: string;
  certPem: string;
  caPem: string;
}

function writeAtomic(path: string, text: string, mode: number): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode });
  renameSync(tmp, path);
}

const files = (dataDir: string) => {
  const dir = join(dataDir, 'tls');
  return { dir, key: join(dir, 'key.pem'), csr: join(dir, 'csr.pem'), cert: join(dir, 'cert.pem'), ca: join(dir, 'ca.pem') };
};

/** The stored identity, or the CSR to send until the controller signs it. */
export async function loadOrCreateIdentity(dataDir: string, hostName: string): Promise<{ identity?: TlsIdentity; csrPem: string; keyPem: string }> {
  const f = files(dataDir);
  mkdirSync(f.dir, { recursive: true, mode: 0o700 });
  if (!existsSync(f.key) || !existsSync(f.csr)) {
    const { keyPem, csrPem } = await createKeyAndCsr(hostName);
    writeAtomic(f.key, keyPem, 0o600);
    writeAtomic(f.csr, csrPem, 0o644);
  }
  const keyPem = readFileSync(f.key, 'utf8');
  const csrPem = readFileSync(f.csr, 'utf8');
  if (existsSync(f.cert) && existsSync(f.ca)) {
    return { identity: { keyPem, certPem: readFileSync(f.cert, 'utf8'), caPem: readFileSync(f.ca, 'utf8') }, csrPem, keyPem };
  }
  return { csrPem, keyPem };
}

export function storeCertificate(dataDir: string, certPem: string, caPem: string): void {
  const f = files(dataDir);
  writeAtomic(f.ca, caPem, 0o644);
  writeAtomic(f.cert, certPem, 0o644);
}
