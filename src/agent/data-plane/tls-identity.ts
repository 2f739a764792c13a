// The host's identity on disk (<dataDir>/tls): the key it made when it joined (never leaves the
// host; owner-only), its current certificate, and the cluster CA it pinned at join. Files are
// written atomically. Used by the agent's API server, its heartbeats and the data plane.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

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

export const identityFiles = (dataDir: string) => {
  const dir = join(dataDir, 'tls');
  return { dir, key: join(dir, 'key.pem'), cert: join(dir, 'cert.pem'), ca: join(dir, 'ca.pem') };
};

/** The stored identity, if this host has joined. */
export function loadIdentity(dataDir: string): TlsIdentity | undefined {
  const f = identityFiles(dataDir);
  if (!existsSync(f.key) || !existsSync(f.cert) || !existsSync(f.ca)) return undefined;
  return { keyPem: readFileSync(f.key, 'utf8'), certPem: readFileSync(f.cert, 'utf8'), caPem: readFileSync(f.ca, 'utf8') };
}

/** A whole identity (at join): key first, so a crash never leaves a certificate without its key. */
export function storeIdentity(dataDir: string, id: TlsIdentity): void {
  const f = identityFiles(dataDir);
  mkdirSync(f.dir, { recursive: true, mode: 0o700 });
  writeAtomic(f.key, id.keyPem, 0o600);
  writeAtomic(f.ca, id.caPem, 0o644);
  writeAtomic(f.cert, id.certPem, 0o644);
}

/** A renewed certificate for the same key. */
export function storeCertificate(dataDir: string, certPem: string): void {
  const f = identityFiles(dataDir);
  mkdirSync(f.dir, { recursive: true, mode: 0o700 });
  writeAtomic(f.cert, certPem, 0o644);
}
