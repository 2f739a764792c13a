// Capturing one checkpoint of a running VM: memory, device state and disks at one instant
// (docs/qemu-checkpoints.md has the QEMU facts behind each step).
//   1. `stop` — the instant. The guest's last heartbeat before it is noted (guestSeq).
//   2. Each disk gets a fresh overlay (`blockdev-snapshot-sync`): the old image is frozen at the
//      instant and the guest writes into the overlay from here on.
//   3. QEMU saves memory and device state to a file with the checkpoint capabilities (RAM pages
//      at fixed offsets, so unchanged 64 KiB blocks keep their chunk ids between checkpoints).
//   4. `cont` (unless the caller wants the VM left paused: a planned failover's last checkpoint).
//      The pause is what the guest lost, measured from `stop` to `cont`.
//   5. The frozen disk images are read out as raw files (qemu-img convert -U: QEMU holds them
//      open read-only).
// release() merges each overlay back into its image (active block-commit), so the chain is one
// image again and the disk node names are what the rest of the agent expects.
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FerryError } from '../../wire/index.js';
import { lastHeartbeat } from '../../wire/heartbeat.js';
import { qemuImg } from '../disks.js';
import { log } from '../log.js';
import { qmpCall, waitMigration } from '../qmp-call.js';
import { diskFile, readTail } from '../vm-dir.js';
import type { VmRuntime } from '../vm-runtime.js';
import type { FileToSend } from './transfer.js';

export const MEMORY_FILE = 'memory';
export const diskFileName = (i: number): string => `disk${i}`;
const SAVE_TIMEOUT_MS = 300_000;
const CONVERT_TIMEOUT_MS = 600_000;
const COMMIT_TIMEOUT_MS = 300_000;
const CONSOLE_TAIL_BYTES = 4096;

/** Capabilities of a checkpoint's memory file, on the saving side and (`load`) the loading side. */
export function checkpointCapabilities(load: boolean): { capability: string; state: boolean }[] {
  void load;
  return [
    { capability: 'events', state: true },
    { capability: 'mapped-ram', state: true },
    { capability: 'multifd', state: false },
    { capability: 'auto-converge', state: false },
    { capability: 'postcopy-ram', state: false },
    { capability: 'return-path', state: false },
    { capability: 'pause-before-switchover', state: false },
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

export async function captureCheckpoint(vm: VmRuntime, workDir: string, opts: { leavePaused: boolean; signal: AbortSignal }): Promise<Capture> {
  mkdirSync(workDir, { recursive: true });
  const disks = vm.rec.spec.disks.length;
  const memFile = join(workDir, MEMORY_FILE);
  const overlays: number[] = [];
  let released = false;
  const release = async (): Promise<void> => {
    if (released) return;
    released = true;
    for (const i of overlays) await commitOverlay(vm, i);
    rmSync(workDir, { recursive: true, force: true });
  };
  const seqBefore = lastHeartbeat(readTail(vm.paths.consoleLog, CONSOLE_TAIL_BYTES))?.seq;
  const t0 = performance.now();
  await qmpCall(vm, 'stop');
  const takenAt = new Date().toISOString();
  let paused = true;
  try {
    for (let i = 0; i < disks; i++) {
      await qmpCall(vm, 'blockdev-snapshot-sync', { 'node-name': `disk${i}`, 'snapshot-file': join(workDir, `overlay${i}.qcow2`), 'snapshot-node-name': overlayNode(i), format: 'qcow2' });
      overlays.push(i);
    }
    await qmpCall(vm, 'migrate-set-capabilities', { capabilities: checkpointCapabilities(false) });
    await qmpCall(vm, 'migrate-set-parameters', { 'max-bandwidth': 10 * 1024 ** 3, 'tls-creds': '', 'tls-hostname': '' });
    await qmpCall(vm, 'migrate', { uri: `file:${memFile}` });
    await waitMigration(vm, SAVE_TIMEOUT_MS);
    opts.signal.throwIfAborted();
    if (!opts.leavePaused) {
      await qmpCall(vm, 'cont');
      paused = false;
    }
    const pauseMs = Math.round(performance.now() - t0);
    const files: FileToSend[] = [{ name: MEMORY_FILE, path: memFile, size: statSync(memFile).size }];
    let diskBytes = 0;
    for (let i = 0; i < disks; i++) {
      const raw = join(workDir, `${diskFileName(i)}.raw`);
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
    if (paused && !opts.leavePaused) await qmpCall(vm, 'cont').catch(() => undefined);
    await release().catch((e: Error) => log('vm %s: undoing a failed checkpoint: %s', vm.name, e.message));
    throw err instanceof FerryError ? err : new FerryError('QEMU_FAILED', `checkpoint of vm ${vm.name}: ${(err as Error).message}`, { cause: err });
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
    await new Promise((r) => setTimeout(r, 50));
  }
  await qmpCall(vm, 'block-job-complete', { device: job });
  for (let t = 0; t < 200; t++) {
    const jobs = await qmpCall<{ device: string }[]>(vm, 'query-block-jobs');
    if (!jobs.some((x) => x.device === job)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new FerryError('TIMEOUT', `block-commit ${job} of vm ${vm.name} did not finish`);
}
