// The NoCloud seed of a VM with `spec.cloudInit`: an ISO 9660 volume labelled `cidata` holding
// user-data (the user's, verbatim) and meta-data (instance-id = the VM's uuid, so cloud-init
// runs its first-boot modules once per VM and not again after a migration or restore). Built by
// genisoimage into <vmdir>/seed.iso before QEMU starts, wherever the VM starts (creation,
// migration target, DR restore): the content comes from the spec, so every copy is the same.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { VmSpec } from '../contracts/index.js';
import { DiskImageError } from './errors.js';

export const SEED_FILE = 'seed.iso';
const GENISOIMAGE = process.env.FERRY_GENISOIMAGE ?? 'genisoimage';
const TIMEOUT_MS = 30_000;

export function metaData(spec: Pick<VmSpec, 'uuid' | 'name'>): string {
  return `instance-id: ${spec.uuid}\nlocal-hostname: ${spec.name}\n`;
}

/** Makes <vmDir>/seed.iso for `spec` unless it exists; nothing for a spec without cloudInit. */
export async function ensureSeed(vmDir: string, spec: VmSpec): Promise<void> {
  if (!spec.cloudInit) return;
  const iso = join(vmDir, SEED_FILE);
  if (existsSync(iso)) return;
  const src = join(vmDir, 'cidata');
  rmSync(src, { recursive: true, force: true });
  mkdirSync(src);
  writeFileSync(join(src, 'user-data'), spec.cloudInit.userData);
  writeFileSync(join(src, 'meta-data'), metaData(spec));
  const tmp = `${iso}.tmp`;
  await new Promise<void>((resolve, reject) => {
    execFile(GENISOIMAGE, ['-quiet', '-output', tmp, '-volid', 'cidata', '-joliet', '-rock', join(src, 'user-data'), join(src, 'meta-data')], { timeout: TIMEOUT_MS }, (err, _out, stderr) =>
      err ? reject(new DiskImageError('genisoimage', stderr.trim() || err.message, err)) : resolve(),
    );
  });
  renameSync(tmp, iso);
  rmSync(src, { recursive: true, force: true });
}
