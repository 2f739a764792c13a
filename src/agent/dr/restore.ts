// Starting a VM from a checkpoint in this host's chunk store (failover, DR test, failback).
// A DR test copy runs under another name with a new uuid (it is not the VM of record) and with
// its network isolated (qemu-command.ts `isolated`).
//
//   idle ─run─▶ materializing ─▶ launching ─▶ loading ─▶ resuming ─▶ running
//     │              │               │           │           │
//     └──────────────┴───────────────┴─────┬─────┴───────────┘
//                            error or abort│
//                                          ▼
//                                       failed   (teardown, once)
//
//   idle           the request is checked: a usable checkpoint, no VM of that name here;
//   materializing  the VM's dir and record; the checkpoint's files written out of the store
//                  (every chunk verified), the memory file's page bitmaps filled in
//                  (mapped-ram.ts), the disks converted to the VM's qcow2 disks;
//   launching      QEMU starts with `-incoming defer`;
//   loading        `migrate-incoming file:` with the capabilities the file was saved with, until
//                  QEMU reports it loaded (MIGRATION `completed`, memory-file.ts);
//   resuming       `cont` (the checkpoint was taken paused; a `cont` before `completed` would be
//                  ignored, docs/qemu.md); then the VM is the manager's, `running`.
// The guest continues from the instant captured (its heartbeat counter goes on from there).
// The teardown kills a QEMU the launch may have started and removes the VM's dir, never what
// an idle (refused) restore found: the dir of a VM of the same name belongs to that VM.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { FerryError, type RestoreRequest, type VmSpec, type VmStatus } from '../../contracts/index.js';
import { terminate } from '../actions.js';
import type { AgentContext } from '../agent-context.js';
import { qemuImg } from '../disks.js';
import { AgentAbortedError } from '../errors.js';
import { connectQmp, launchQemu } from '../launch.js';
import { log } from '../log.js';
import { vmStatus } from '../metrics.js';
import { qmp } from '../qemu/monitor.js';
import { diskFile, removeVmDir, vmPaths } from '../vm-dir.js';
import { VmRuntime } from '../vm-runtime.js';
import { diskFileName } from './capture.js';
import { TransitionRefusedError } from '../errors.js';
import { checkTransition, type TransitionTable } from '../driver-state.js';
import { markAllPagesPresent } from './mapped-ram.js';
import { MEMORY_FILE, loadMemoryFile } from './memory-file.js';
import type { ChunkStore, CommittedCheckpoint } from './store/index.js';

const CONVERT_TIMEOUT_MS = 600_000;

export type RestoreState = 'idle' | 'materializing' | 'launching' | 'loading' | 'resuming' | 'running' | 'failed';

const NEXT: TransitionTable<RestoreState> = {
  idle: ['materializing', 'failed'],
  materializing: ['launching', 'failed'],
  launching: ['loading', 'failed'],
  loading: ['resuming', 'failed'],
  resuming: ['running', 'failed'],
  running: [],
  failed: [],
};

export class CheckpointRestore {
  #state: RestoreState = 'idle';
  #teardown: Promise<void> | undefined;
  #vm: VmRuntime | undefined;

  constructor(
    readonly ctx: AgentContext,
    readonly store: ChunkStore,
    readonly req: RestoreRequest,
    readonly signal: AbortSignal,
  ) {}

  get state(): RestoreState {
    return this.#state;
  }

  /** Restores the VM and hands it to the manager; on any failure the teardown has run before this rejects. */
  async run(): Promise<VmStatus> {
    if (this.#state !== 'idle') throw new TransitionRefusedError(`restore of vm ${this.req.vm}`, this.#state, 'materializing', 'a restore runs once');
    try {
      return await this.#restore();
    } catch (err) {
      const failedIn = this.#state;
      this.#state = 'failed';
      this.#teardown ??= this.#undo(failedIn).catch((e: Error) => log('dr: undoing the restore of vm %s: %s', this.req.vm, e.message));
      await this.#teardown;
      throw err;
    }
  }

  async #restore(): Promise<VmStatus> {
    const { ctx, req, signal } = this;
    const c = this.store.get(req.vm, req.seq);
    if (!c || c.damaged) throw new FerryError('NOT_FOUND', `no usable checkpoint ${req.seq ?? '(newest)'} of vm ${req.vm} on this host`);
    const spec = this.#specOf(c);
    if (ctx.mgr.vms.has(spec.name) || existsSync(vmPaths(ctx.dataDir, spec.name).dir)) throw new FerryError('CONFLICT', `vm ${spec.name} already exists on this host`);
    const vm = new VmRuntime(ctx.dataDir, { spec, state: 'restoring', endpoints: [], ...(req.isolated ? { isolated: true } : {}) }, connectQmp);
    const memFile = join(vm.paths.dir, 'checkpoint.mem');
    const t0 = performance.now();

    this.#to('materializing');
    this.#vm = vm;
    mkdirSync(vm.paths.dir, { recursive: true });
    vm.save();
    await this.store.materialize(c.vm, c.seq, MEMORY_FILE, memFile, { signal });
    await markAllPagesPresent(memFile);
    for (let i = 0; i < spec.disks.length; i++) {
      const raw = join(vm.paths.dir, `disk${i}.raw`);
      await this.store.materialize(c.vm, c.seq, diskFileName(i), raw, { signal });
      await qemuImg(['convert', '-f', 'raw', '-O', 'qcow2', raw, diskFile(vm.paths.dir, i)], CONVERT_TIMEOUT_MS);
      rmSync(raw, { force: true });
    }

    this.#to('launching');
    await launchQemu(ctx.launch, vm, { incoming: true });

    this.#to('loading');
    await loadMemoryFile(vm, memFile, signal);
    rmSync(memFile, { force: true });

    this.#to('resuming');
    await qmp(vm, 'cont', undefined, { signal });

    this.#to('running');
    vm.setState('running');
    ctx.mgr.adopt(vm);
    log('dr: vm %s restored from checkpoint %d of %s (taken %s) in %d ms%s', spec.name, c.seq, c.vm, c.takenAt, Math.round(performance.now() - t0), req.isolated ? ', isolated' : '');
    return vmStatus(vm);
  }

  /** The VM of record as checkpointed, or a DR test's copy: another name, a new uuid, no fixed MACs. */
  #specOf(c: CommittedCheckpoint): VmSpec {
    const base = c.manifest.spec as VmSpec;
    return this.req.asName ? { ...base, name: this.req.asName, uuid: randomUUID(), nics: base.nics.map(({ mac: _mac, ...n }) => n) } : base;
  }

  #to(next: RestoreState): void {
    checkTransition(`restore of vm ${this.req.vm}`, NEXT, this.#state, next);
    if (this.signal.aborted) throw new AgentAbortedError(`restore of vm ${this.req.vm}`, this.signal.reason);
    this.#state = next;
  }

  /** Kills the half-restored QEMU and removes its files; nothing when the restore was refused before it made any. */
  async #undo(state: RestoreState): Promise<void> {
    const vm = this.#vm;
    if (state === 'idle' || !vm) return;
    try {
      if (vm.rec.pid !== undefined) await terminate(vm, 0);
    } finally {
      removeVmDir(this.ctx.dataDir, vm.name);
    }
  }
}
