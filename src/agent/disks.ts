// Disk images, made with qemu-img: a new empty qcow2 per DiskSpec (or an overlay on its
// `image`), and the copies a clone needs. Every call has a timeout and takes the caller's
// signal; failures are DiskImageError (QEMU_FAILED) carrying qemu-img's own message.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import type { DiskSpec } from '../contracts/index.js';
import { AgentAbortedError, DiskImageError } from './errors.js';
import { QEMU_IMG, refId } from './qemu-command.js';
import { diskFile } from './vm-dir.js';

const CREATE_TIMEOUT_MS = 60_000;
const COPY_TIMEOUT_MS = 30 * 60_000;
const DEFAULT_DISK_MIB = 1024;

export function qemuImg(args: string[], timeoutMs: number, signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(QEMU_IMG, args, { timeout: timeoutMs, maxBuffer: 1024 * 1024, ...(signal ? { signal } : {}) }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      if (signal?.aborted) return reject(new AgentAbortedError(`qemu-img ${args[0] ?? ''}`, err));
      reject(new DiskImageError(args[0] ?? 'qemu-img', stderr.trim() || err.message, err));
    });
  });
}

/**
 * `imageFile` gives the library file of a `fromImage` base (images/layout.ts): the disk is a
 * qcow2 overlay on it (qcow2 or raw), grown to `sizeMiB` when that is larger.
 */
export async function createDisks(vmDir: string, disks: DiskSpec[], imageFile: (id: string) => string, signal?: AbortSignal): Promise<void> {
  for (const [i, d] of disks.entries()) {
    const file = diskFile(vmDir, i);
    if (d.fromImage) {
      const base = imageFile(refId(d.fromImage));
      const fmt = d.fromImage.format === 'raw' ? 'raw' : 'qcow2';
      const grow = d.sizeMiB && d.sizeMiB * 1024 * 1024 > (d.fromImage.virtualSize ?? 0) ? [`${d.sizeMiB}M`] : [];
      await qemuImg(['create', '-q', '-f', 'qcow2', '-F', fmt, '-b', base, file, ...grow], CREATE_TIMEOUT_MS, signal);
    } else if (d.image) await qemuImg(['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', d.image, file], CREATE_TIMEOUT_MS, signal);
    else await qemuImg(['create', '-q', '-f', 'qcow2', file, `${d.sizeMiB ?? DEFAULT_DISK_MIB}M`], CREATE_TIMEOUT_MS, signal);
  }
}

/**
 * Copies the source's disks into the clone's dir. Full: `qemu-img convert` flattens each disk
 * (backing chain included) into a standalone qcow2. Linked: the flattened copy becomes a
 * frozen base (base-diskN.qcow2, never written again) under a thin overlay, so the clone
 * starts with next to no private data. `-U` reads an image a running QEMU holds locked: the
 * caller pauses that VM first, so the copy is crash-consistent.
 */
export async function copyDisks(srcDir: string, dstDir: string, count: number, linked: boolean, signal?: AbortSignal): Promise<void> {
  for (let i = 0; i < count; i++) {
    const src = diskFile(srcDir, i);
    const dst = diskFile(dstDir, i);
    if (!linked) {
      await qemuImg(['convert', '-U', '-q', '-O', 'qcow2', src, dst], COPY_TIMEOUT_MS, signal);
      continue;
    }
    const base = join(dstDir, `base-disk${i}.qcow2`);
    await qemuImg(['convert', '-U', '-q', '-O', 'qcow2', src, base], COPY_TIMEOUT_MS, signal);
    await qemuImg(['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', base, dst], CREATE_TIMEOUT_MS, signal);
  }
}
