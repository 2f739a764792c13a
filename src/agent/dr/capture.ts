// Capturing one checkpoint of a running VM: memory, device state and disks at one instant,
// with the guest paused only for tens of milliseconds (docs/qemu-checkpoints.md measured it).
//   before: each disk gets an overlay image, added to QEMU unattached (`blockdev-add`).
//   pause:  `stop` (the instant; the guest's last heartbeat is noted as guestSeq); one
//           `transaction` switches every disk to its overlay, so the images are frozen at the
//           instant; `migrate` to a file with background-snapshot + mapped-ram: QEMU saves the
//           device state and write-protects RAM, then we `cont` (unless the caller wants the VM
//           left paused: a planned failover's last checkpoint). The pause is `stop` → `cont`.
//   after:  QEMU writes every RAM page of the instant at its fixed offset in the file while the
//           guest runs (unchanged 64 KiB blocks keep their chunk ids between checkpoints); the
//           frozen images are read out as raw files.
// release() merges each overlay back into its image (active block-commit) and drops it, so the
// disk node names are what the rest of the agent expects. The file's page bitmaps are filled in
// at restore (mapped-ram.ts).
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FerryError } from '../../contracts/index.js';
import { lastHeartbeat } from '../../contracts/heartbeat.js';
import { qemuImg } from '../disks.js';
import { log } from '../log.js';
import { qmpCall, waitMigration } from '../qmp-call.js';
import { diskFile, readTail } from '../vm-dir.js';
import type { VmRuntime } from '../vm-runtime.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FileToSend } from './transfer.js';

export const MEMORY_FILE = 'memory';
export const diskFileName = (i: number): string => `disk${i}`;
const SAVE_TIMEOUT_MS = 300_000;
const CONVERT_TIMEOUT_MS = 600_000;
const COMMIT_TIMEOUT_MS = 300_000;
const CONSOLE_TAIL_BYTES = 4096;

/** Capabilities to save a checkpoint's memory file (`load`: to load one). */
export function checkpointCapabilities(load: boolean): { capability: string; state: boolean }[] {
  const off = (c: string) => ({ capability: c, state: false });
  return [
    { capability: 'events', state: true },
    { capability: 'mapped-ram', state: true },
    { capability: 'background-snapshot', state: !load },
    // background-snapshot refuses to run with any of these on (a live migration may have set them).
    ...['multifd', 'auto-converge', 'postcopy-ram', 'return-path', 'pause-before-switchover', 'postcopy-blocktime', 'xbzrle'].map(off),
  ];
}

export interface Capture {
  files: FileToSend[];
  takenAt: string;
  pauseMs: number;
  guestSeq?: number;
  memoryBytes: number;
  diskBytes: number;
  /** Merges the disk overlays back and removes the capture's files. Idempotent. */
  release(): Promise<void>;
}

const overlayNode = (i: number): string => `disk${i}-ckpt`;
const SNAPSHOT_STARTED_POLL_MS = 2;
const JOB_POLL_MS = 50;

export interface CaptureOptions {
  leavePaused: boolean;
  signal: AbortSignal;
  /** Zero-loss mode: called inside the pause, so output the guest produces after the instant is held (output-hold.ts). */
  atInstant?: () => Promise<void>;
}

export async function captureCheckpoint(vm: VmRuntime, workDir: string, opts: CaptureOptions): Promise<Capture> {
  mkdirSync(workDir, { recursive: true });
  const disks = vm.rec.spec.disks.length;
  const memFile = join(workDir, MEMORY_FILE);
  const overlays: number[] = [];
  let released = false;
  const release = async (): Promise<void> => {
    if (released) return;
    released = true;
    for (const i of overlays) await commitOverlay(vm, i);
    for (let i = 0; i < disks; i++) await qmpCall(vm, 'blockdev-del', { 'node-name': overlayNode(i) }).catch(() => undefined);
    rmSync(workDir, { recursive: true, force: true });
  };
  let paused = false;
  let attached = 0;
  try {
    await qmpCall(vm, 'migrate-set-capabilities', { capabilities: checkpointCapabilities(false) });
    await qmpCall(vm, 'migrate-set-parameters', { 'max-bandwidth': 10 * 1024 ** 3, 'tls-creds': '', 'tls-hostname': '' });
    for (let i = 0; i < disks; i++) {
      const file = join(workDir, `overlay${i}.qcow2`);
      await qemuImg(['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', diskFile(vm.paths.dir, i), file], CONVERT_TIMEOUT_MS);
      await qmpCall(vm, 'blockdev-add', { driver: 'qcow2', 'node-name': overlayNode(i), file: { driver: 'file', filename: file }, backing: null });
      overlays.push(i);
    }
    const seqBefore = lastHeartbeat(readTail(vm.paths.consoleLog, CONSOLE_TAIL_BYTES))?.seq;
    const t0 = performance.now();
    await qmpCall(vm, 'stop');
    paused = true;
    const takenAt = new Date().toISOString();
    await opts.atInstant?.();
    if (disks > 0) {
      await qmpCall(vm, 'transaction', { actions: overlays.map((i) => ({ type: 'blockdev-snapshot', data: { node: `disk${i}`, overlay: overlayNode(i) } })) });
      attached = disks;
    }
    await qmpCall(vm, 'migrate', { uri: `file:${memFile}` });
    await snapshotStarted(vm);
    if (!opts.leavePaused) {
      await qmpCall(vm, 'cont');
      paused = false;
    }
    const pauseMs = Math.round(performance.now() - t0);
    await waitMigration(vm, SAVE_TIMEOUT_MS);
    opts.signal.throwIfAborted();
    const files: FileToSend[] = [{ name: MEMORY_FILE, path: memFile, size: statSync(memFile).size }];
    let diskBytes = 0;
    for (let i = 0; i < disks; i++) {
      const raw = join(workDir, `${diskFileName(i)}.raw`);
      // The frozen image: QEMU holds it read-only now, so reading it is safe (-U: QEMU keeps its lock).
      await qemuImg(['convert', '-U', '-f', 'qcow2', '-O', 'raw', diskFile(vm.paths.dir, i), raw], CONVERT_TIMEOUT_MS);
      const size = statSync(raw).size;
      diskBytes += size;
      files.push({ name: diskFileName(i), path: raw, size });
    }
    log('vm %s: checkpoint captured: pause %d ms, memory file %d bytes, %d disk(s)', vm.name, pauseMs, files[0]!.size, disks);
    return {
      files, takenAt, pauseMs, memoryBytes: vm.rec.spec.memoryMiB * 1024 * 1024, diskBytes, release,
      ...(seqBefore !== undefined ? { guestSeq: seqBefore } : {}),
    };
  } catch (err) {
    await qmpCall(vm, 'migrate_cancel').catch(() => undefined);
    if (paused && !opts.leavePaused) await qmpCall(vm, 'cont').catch(() => undefined);
    if (attached === 0) overlays.length = 0; // never switched to: nothing to merge, only to drop
    await release().catch((e: Error) => log('vm %s: undoing a failed checkpoint: %s', vm.name, e.message));
    throw err instanceof FerryError ? err : new FerryError('QEMU_FAILED', `checkpoint of vm ${vm.name}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Waits until the snapshot thread has saved the device state and write-protected RAM (it then
 * starts counting pages): only after that may the guest run again, or memory would be later
 * than the disks.
 */
async function snapshotStarted(vm: VmRuntime): Promise<void> {
  const deadline = Date.now() + SAVE_TIMEOUT_MS;
  for (;;) {
    const info = await qmpCall<{ status?: string; 'error-desc'?: string; ram?: { normal?: number; duplicate?: number } }>(vm, 'query-migrate');
    if (info.status === 'completed') return;
    if (info.status === 'active' && (info.ram?.normal ?? 0) + (info.ram?.duplicate ?? 0) > 0) return;
    if (info.status === 'failed' || info.status === 'cancelled') throw new FerryError('QEMU_FAILED', `memory snapshot ${info.status}${info['error-desc'] ? `: ${info['error-desc']}` : ''}`);
    if (Date.now() > deadline) throw new FerryError('TIMEOUT', `memory snapshot of vm ${vm.name} did not start`);
    await sleep(SNAPSHOT_STARTED_POLL_MS);
  }
}

/** Active commit of disk i's overlay into its image; afterwards `disk<i>` is the active node again. */
async function commitOverlay(vm: VmRuntime, i: number): Promise<void> {
  const job = `ckpt-commit-${i}`;
  await qmpCall(vm, 'block-commit', { 'job-id': job, device: overlayNode(i) });
  const deadline = Date.now() + COMMIT_TIMEOUT_MS;
  for (;;) {
    const jobs = await qmpCall<{ device: string; ready: boolean; status: string }[]>(vm, 'query-block-jobs');
    const j = jobs.find((x) => x.device === job);
    if (!j) throw new FerryError('QEMU_FAILED', `block-commit ${job} of vm ${vm.name} vanished`);
    if (j.ready) break;
    if (Date.now() > deadline) throw new FerryError('TIMEOUT', `block-commit ${job} of vm ${vm.name} not ready after ${COMMIT_TIMEOUT_MS / 1000} s`);
    await sleep(JOB_POLL_MS);
  }
  await qmpCall(vm, 'block-job-complete', { device: job });
  for (let t = 0; t < 200; t++) {
    const jobs = await qmpCall<{ device: string }[]>(vm, 'query-block-jobs');
    if (!jobs.some((x) => x.device === job)) return;
    await sleep(JOB_POLL_MS);
  }
  throw new FerryError('TIMEOUT', `block-commit ${job} of vm ${vm.name} did not finish`);
}
