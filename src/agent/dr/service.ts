// The agent's side of disaster recovery: checkpoint jobs on either end, the host's chunk store,
// restoring a VM from a stored checkpoint, scrubbing. Routes (routes.ts) call in here.
//
// A job is one checkpoint (job.ts). The DR host (`receive`, receive-job.ts) expects a
// replication session from the protected host and commits the checkpoint into its store only
// when every file arrived; the protected host (`send`, send-job.ts) captures the VM, streams
// the files and keeps the checkpoint both sides now share. Jobs stay listed after they end so
// the controller can read the outcome. On start it first undoes what a checkpoint of the agent
// before it left in each VM (recover.ts: a guest left paused, overlays, held output), and no
// new checkpoint of a VM starts before that is done.
import { join } from 'node:path';
import {
  FerryError, type CheckpointProgress, type ReceiveCheckpointRequest, type RestoreRequest, type ScrubReport, type SendCheckpointRequest, type StoredCheckpoint,
  type VmStatus,
} from '../../contracts/index.js';
import { log } from '../log.js';
import type { AgentContext } from '../agent-context.js';
import { dropBase } from './delta/base-files.js';
import { CheckpointJob } from './job.js';
import { OutputHold } from './output-hold.js';
import { receiveCheckpoint } from './receive-job.js';
import { CheckpointRestore } from './restore.js';
import { recoverCheckpoint } from './recover.js';
import { sendCheckpoint } from './send-job.js';
import { ChunkStore, type CommittedCheckpoint } from './store/index.js';
import type { CheckpointMeta } from './transfer.js';

const MAX_KEPT = 200;

export function storedView(c: CommittedCheckpoint): StoredCheckpoint {
  const m = c.manifest.meta as CheckpointMeta;
  return {
    vm: c.vm, uuid: c.uuid, seq: c.seq, takenAt: c.takenAt, committedAt: c.committedAt,
    memoryBytes: m.memoryBytes ?? 0, diskBytes: m.diskBytes ?? 0, ...(m.guestSeq !== undefined ? { guestSeq: m.guestSeq } : {}),
  };
}

export class DrService {
  #store: ChunkStore | undefined;
  readonly #jobs = new Map<string, CheckpointJob>();
  readonly #hold = new OutputHold();
  /** Fires when the agent closes: restores still under way tear themselves down. */
  readonly #closing = new AbortController();

  /** Settles once every VM's leftovers of the previous agent's checkpoints are dealt with (recover.ts). */
  readonly recovered: Promise<void>;

  constructor(readonly ctx: AgentContext) {
    this.recovered = Promise.all([...ctx.mgr.vms.values()].map((vm) => recoverCheckpoint(vm, this.#hold, this.#closing.signal))).then(() => undefined);
  }

  /** Opened on first use: opening syncs the store's directories, which a host that never replicates need not pay at start. */
  get store(): ChunkStore {
    this.#store ??= ChunkStore.open(join(this.ctx.dataDir, 'dr-store'));
    return this.#store;
  }

  job(id: string): CheckpointProgress {
    return this.#job(id).progress;
  }

  /** DR host: expect the session for one checkpoint; it commits only when complete. */
  receive(req: ReceiveCheckpointRequest): CheckpointProgress {
    if (this.store.get(req.vm, req.seq)) throw new FerryError('CONFLICT', `checkpoint ${req.seq} of vm ${req.vm} is already stored here`);
    const job = this.#add(new CheckpointJob(req.jobId, 'target', req.vm, req.seq));
    try {
      receiveCheckpoint({ ctx: this.ctx, store: this.store }, job, req);
    } catch (err) {
      job.settle(err);
      throw err;
    }
    return job.progress;
  }

  /** Protected host: capture the VM and send the checkpoint; returns at once, progress by polling. */
  send(req: SendCheckpointRequest): CheckpointProgress {
    const vm = this.ctx.mgr.get(req.vm);
    if (vm.migrationId) throw new FerryError('CONFLICT', `vm ${req.vm} is being migrated (migration ${vm.migrationId})`);
    if (vm.rec.state !== 'running') throw new FerryError('INVALID_STATE', `vm ${req.vm} is ${vm.rec.state}; only a running vm can be checkpointed`);
    const job = this.#add(new CheckpointJob(req.jobId, 'source', req.vm, req.seq));
    job.track(this.recovered.then(() => sendCheckpoint({ ctx: this.ctx, store: this.store, hold: this.#hold }, job, req)).catch((err: unknown) => {
      job.settle(err);
      log('dr job %s: checkpoint %d of vm %s failed: %s', req.jobId, req.seq, req.vm, err instanceof Error ? err.message : String(err));
    }));
    return job.progress;
  }

  async abort(id: string): Promise<CheckpointProgress> {
    const job = this.#job(id);
    job.abort();
    await job.done;
    return job.progress;
  }

  list(vm: string): StoredCheckpoint[] {
    return this.store.list(vm).filter((c) => !c.damaged).map(storedView);
  }

  async drop(vm: string): Promise<{ freedBytes: number }> {
    for (const job of this.#jobs.values()) if (job.vm === vm) job.abort();
    await this.recovered;
    const local = this.ctx.mgr.vms.get(vm);
    if (local && this.#hold.holding(vm) > 0) await this.#hold.releaseAll(local);
    // The base of the next incremental checkpoint is of no use once the protection goes (a new
    // one starts with a full checkpoint; the DR host refuses a delta to a base it does not hold).
    if (local) dropBase(local.paths.dir);
    return { freedBytes: this.store.drop(vm) };
  }

  restore(req: RestoreRequest): Promise<VmStatus> {
    return new CheckpointRestore(this.ctx, this.store, req, this.#closing.signal).run();
  }

  scrub(): Promise<ScrubReport> {
    return this.store.scrub();
  }

  async close(): Promise<void> {
    this.#closing.abort();
    await this.recovered;
    for (const job of this.#jobs.values()) job.abort();
    await Promise.all([...this.#jobs.values()].map((job) => job.done));
    this.#store?.close();
  }

  #job(id: string): CheckpointJob {
    const job = this.#jobs.get(id);
    if (!job) throw new FerryError('NOT_FOUND', `no checkpoint job ${id} on this host`);
    return job;
  }

  #add(job: CheckpointJob): CheckpointJob {
    if (this.#jobs.has(job.id)) throw new FerryError('CONFLICT', `checkpoint job ${job.id} already exists on this host`);
    for (const other of this.#jobs.values()) {
      if (other.vm === job.vm && other.role === job.role && other.live) throw new FerryError('CONFLICT', `vm ${job.vm} already has checkpoint job ${other.id} running here`);
    }
    this.#jobs.set(job.id, job);
    for (const [id, old] of this.#jobs) {
      if (this.#jobs.size <= MAX_KEPT) break;
      if (!old.live) this.#jobs.delete(id);
    }
    return job;
  }
}
