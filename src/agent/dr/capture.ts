// Capturing one checkpoint of a running VM: memory, device state and disks at one instant,
// with the guest paused only for tens of milliseconds (docs/qemu-checkpoints.md measured it).
//
//   idle ─run─▶ preparing ─▶ pausing ─▶ switching ─▶ snapshotting ─▶ saving ─▶ exporting ─▶ captured
//                   │           │           │             │            │          │            │
//                   └───────────┴───────────┴──────┬──────┴────────────┴──────────┘         release()
//                                    error or abort│                                           │
//                                                  ▼                                           ▼
//                                               failed ◀───────── teardown (once) ───────▶ released
//
//   preparing     each disk gets an overlay image, added to QEMU unattached (overlays.ts);
//   pausing       the pause is recorded on disk (pause-record.ts: an agent killed inside it is
//                 followed by one that resumes the guest, recover.ts), then `stop`: the instant
//                 (the guest's last heartbeat is noted as guestSeq), then `atInstant` (zero-loss
//                 mode starts holding output, output-hold.ts);
//   switching     one `transaction` makes every overlay its disk's active layer: images frozen;
//   snapshotting  `migrate` to a file with background-snapshot + mapped-ram, until QEMU has saved
//                 the device state and write-protected RAM (memory-file.ts); then `cont`, unless
//                 the VM is to stay paused (a planned failover's last checkpoint). The pause is
//                 `stop` → `cont`;
//   saving        QEMU writes every RAM page of the instant at its fixed offset while the guest
//                 runs (unchanged 64 KiB blocks keep their chunk ids between checkpoints);
//   exporting     the frozen images are read out as raw files;
//   captured      the files wait to be sent; release() merges the overlays back.
//
// A state names the step under way, whose effect may or may not have happened yet (an aborted
// QMP call may still be carried out), so the teardown undoes what the state it ends in may have
// done: cont a guest we may have paused, cancel the snapshot, merge back overlays that may be
// attached, delete the overlay nodes, remove the files. It runs once, after the driver's signal
// may have fired, so its calls carry timeouts but not that signal. The file's page bitmaps are
// filled in at restore (mapped-ram.ts).
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FerryError } from '../../contracts/index.js';
import { lastHeartbeat } from '../../contracts/heartbeat.js';
import { qemuImg } from '../disks.js';
import { AgentAbortedError } from '../errors.js';
import { log } from '../log.js';
import { qmp } from '../qemu/monitor.js';
import { diskFile, readTail } from '../vm-dir.js';
import type { VmRuntime } from '../vm-runtime.js';
import { CaptureFailedError } from './errors.js';
import { TransitionRefusedError } from '../errors.js';
import { checkTransition, type TransitionTable } from '../driver-state.js';
import { MEMORY_FILE, MemorySnapshot, checkpointCapabilities } from './memory-file.js';
import { addOverlay, commitOverlay, dropOverlay, switchToOverlays } from './overlays.js';
import { clearPause, faultHoldInPause, notePause } from './pause-record.js';
import type { FileToSend } from './transfer.js';

export const diskFileName = (i: number): string => `disk${i}`;
const CONVERT_TIMEOUT_MS = 600_000;
const CONSOLE_TAIL_BYTES = 4096;
/** A local file needs no bandwidth cap (QEMU's default is 128 MiB/s). */
const FILE_BANDWIDTH = 10 * 1024 ** 3;

export type CaptureState = 'idle' | 'preparing' | 'pausing' | 'switching' | 'snapshotting' | 'saving' | 'exporting' | 'captured' | 'failed' | 'released';

const NEXT: TransitionTable<CaptureState> = {
  idle: ['preparing'],
  preparing: ['pausing', 'failed'],
  pausing: ['switching', 'failed'],
  switching: ['snapshotting', 'failed'],
  snapshotting: ['saving', 'failed'],
  saving: ['exporting', 'failed'],
  exporting: ['captured', 'failed'],
  captured: ['released'],
  failed: [],
  released: [],
};

/** What the teardown must undo when it ends in each state (see the header). */
const UNDO: Readonly<Record<CaptureState, { cont: boolean; cancel: boolean; merge: 'no' | 'maybe' | 'yes' }>> = {
  idle: { cont: false, cancel: false, merge: 'no' },
  preparing: { cont: false, cancel: false, merge: 'no' },
  pausing: { cont: true, cancel: false, merge: 'no' },
  switching: { cont: true, cancel: false, merge: 'maybe' },
  snapshotting: { cont: true, cancel: true, merge: 'yes' },
  saving: { cont: false, cancel: true, merge: 'yes' },
  exporting: { cont: false, cancel: false, merge: 'yes' },
  captured: { cont: false, cancel: false, merge: 'yes' },
  failed: { cont: false, cancel: false, merge: 'no' },
  released: { cont: false, cancel: false, merge: 'no' },
};

export interface CaptureOptions {
  leavePaused: boolean;
  signal: AbortSignal;
  /** Zero-loss mode: called inside the pause, so output the guest produces after the instant is held (output-hold.ts). */
  atInstant?: () => Promise<void>;
}

export interface CapturedCheckpoint {
  files: FileToSend[];
  takenAt: string;
  pauseMs: number;
  guestSeq?: number;
  memoryBytes: number;
  diskBytes: number;
}

export class CheckpointCapture {
  #state: CaptureState = 'idle';
  #teardown: Promise<void> | undefined;
  readonly #disks: number[];

  constructor(
    readonly vm: VmRuntime,
    readonly workDir: string,
    readonly opts: CaptureOptions,
  ) {
    this.#disks = vm.rec.spec.disks.map((_d, i) => i);
  }

  get state(): CaptureState {
    return this.#state;
  }

  /** Captures the checkpoint; on any failure the teardown has run before this rejects. */
  async run(): Promise<CapturedCheckpoint> {
    this.#to('preparing');
    try {
      return await this.#capture();
    } catch (err) {
      const failedIn = this.#state;
      this.#state = 'failed';
      this.#teardown = this.#undo(failedIn).catch((e: Error) => log('vm %s: undoing a failed checkpoint: %s', this.vm.name, e.message));
      await this.#teardown;
      throw err instanceof FerryError ? err : new CaptureFailedError(this.vm.name, err);
    }
  }

  /** Merges the disk overlays back and removes the capture's files. Idempotent; refused while a capture is under way. */
  release(): Promise<void> {
    if (this.#state === 'captured') {
      this.#state = 'released';
      this.#teardown = this.#undo('captured');
    }
    if (this.#teardown) return this.#teardown;
    return Promise.reject(new TransitionRefusedError(`capture of vm ${this.vm.name}`, this.#state, 'released', 'only a finished capture can be released'));
  }

  async #capture(): Promise<CapturedCheckpoint> {
    const { vm, opts } = this;
    const call = { signal: opts.signal };
    mkdirSync(this.workDir, { recursive: true });
    await qmp(vm, 'migrate-set-capabilities', { capabilities: checkpointCapabilities(false) }, call);
    await qmp(vm, 'migrate-set-parameters', { 'max-bandwidth': FILE_BANDWIDTH, 'tls-creds': '', 'tls-hostname': '' }, call);
    for (const i of this.#disks) await addOverlay(vm, i, join(this.workDir, `overlay${i}.qcow2`), call);

    this.#to('pausing');
    if (!opts.leavePaused) notePause(vm, this.workDir);
    const guestSeq = lastHeartbeat(readTail(vm.paths.consoleLog, CONSOLE_TAIL_BYTES))?.seq;
    const t0 = performance.now();
    await qmp(vm, 'stop', undefined, call);
    const takenAt = new Date().toISOString();
    await opts.atInstant?.();
    await faultHoldInPause(vm, opts.signal);

    this.#to('switching');
    await switchToOverlays(vm, this.#disks, call);

    this.#to('snapshotting');
    const memFile = join(this.workDir, MEMORY_FILE);
    const snapshot = await MemorySnapshot.start(vm, memFile, opts.signal);
    try {
      await snapshot.writeProtected();
      if (!opts.leavePaused) {
        await qmp(vm, 'cont', undefined, call);
        clearPause(vm);
      }
      const pauseMs = Math.round(performance.now() - t0);
      this.#to('saving');
      await snapshot.saved();
      const savedMs = Math.round(performance.now() - t0);

      this.#to('exporting');
      const files: FileToSend[] = [{ name: MEMORY_FILE, path: memFile, size: statSync(memFile).size }];
      let diskBytes = 0;
      for (const i of this.#disks) {
        const raw = join(this.workDir, `${diskFileName(i)}.raw`);
        // The frozen image: QEMU holds it read-only now, so reading it is safe (-U: QEMU keeps its lock).
        await qemuImg(['convert', '-U', '-f', 'qcow2', '-O', 'raw', diskFile(vm.paths.dir, i), raw], CONVERT_TIMEOUT_MS);
        const size = statSync(raw).size;
        diskBytes += size;
        files.push({ name: diskFileName(i), path: raw, size });
      }
      this.#to('captured');
      log('vm %s: checkpoint captured: pause %d ms, memory saved after %d ms, disks read out after %d ms; memory file %d bytes, %d disk(s)', vm.name, pauseMs, savedMs, Math.round(performance.now() - t0), files[0]!.size, this.#disks.length);
      return { files, takenAt, pauseMs, memoryBytes: vm.rec.spec.memoryMiB * 1024 * 1024, diskBytes, ...(guestSeq !== undefined ? { guestSeq } : {}) };
    } finally {
      snapshot.dispose();
    }
  }

  /** One step forward; refused unless the table allows it, and stopped once the signal fired. */
  #to(next: CaptureState): void {
    checkTransition(`capture of vm ${this.vm.name}`, NEXT, this.#state, next);
    if (this.opts.signal.aborted) throw new AgentAbortedError(`checkpoint of vm ${this.vm.name}`, this.opts.signal.reason);
    this.#state = next;
  }

  /** Undoes what a capture that ended in `state` may have done; the first failure is rethrown once all is tried. */
  async #undo(state: CaptureState): Promise<void> {
    const { vm } = this;
    const undo = UNDO[state];
    const errors: unknown[] = [];
    const attempt = (p: Promise<unknown>): Promise<unknown> => p.catch((err: unknown) => errors.push(err));
    if (undo.cancel) await qmp(vm, 'migrate_cancel').catch(() => undefined);
    if (undo.cont && !this.opts.leavePaused) await attempt(qmp(vm, 'cont').then(() => clearPause(vm)));
    if (state !== 'idle') {
      for (const i of this.#disks) {
        if (undo.merge === 'yes') await attempt(commitOverlay(vm, i));
        // The transaction may or may not have been carried out: a commit of an unattached overlay fails harmlessly.
        if (undo.merge === 'maybe') await commitOverlay(vm, i).catch(() => undefined);
        await dropOverlay(vm, i, {}).catch(() => undefined);
      }
    }
    rmSync(this.workDir, { recursive: true, force: true });
    if (errors.length > 0) throw errors[0];
  }
}
