// The agent's side of disaster recovery: checkpoint jobs on either end, the host's chunk store,
// restoring a VM from a stored checkpoint, scrubbing. Routes (routes.ts) call in here.
//
// A job is one checkpoint. The DR host (`receive`) expects a replication session from the
// protected host and commits the checkpoint into its store only when every file arrived
// (transfer.ts); the protected host (`send`) captures the VM (capture.ts), streams the files,
// and after the DR host's commit keeps the same checkpoint in its own store (retaining only
// that one), so a failback later sends just what changed. Jobs stay listed after they end so
// the controller can read the outcome.
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import {
  FerryError, type CheckpointProgress, type ReceiveCheckpointRequest, type RestoreRequest, type ScrubReport, type SendCheckpointRequest, type StoredCheckpoint,
  type VmStatus,
} from '../../contracts/index.js';
import { log } from '../log.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AgentContext } from '../agent-context.js';
import type { DataSession } from '../data-plane/plane.js';
import { captureCheckpoint, type Capture } from './capture.js';
import { restoreCheckpoint } from './restore.js';
import { ChunkStore, type CommittedCheckpoint, type Staging } from './store/index.js';
import { OutputHold } from './output-hold.js';
import { receiveFiles, sendFiles } from './transfer.js';

const SESSION_WAIT_MS = 60_000;
const PEER_REASON_WAIT_MS = 500;
const MAX_KEPT = 200;
/** The protected host keeps only the newest checkpoint it sent: the one both sides share. */
const LOCAL_KEEP = 1;

interface Job {
  p: CheckpointProgress;
  abort: AbortController;
  done: Promise<void>;
}

function blank(id: string, role: 'source' | 'target', vm: string, seq: number): CheckpointProgress {
  return { id, role, vm, seq, state: role === 'source' ? 'capturing' : 'waiting', memoryBytes: 0, diskBytes: 0, bytesDone: 0, bytesTotal: 0, wireBytes: 0, newBytes: 0 };
}

export function storedView(c: CommittedCheckpoint): StoredCheckpoint {
  const m = c.manifest.meta as { memoryBytes?: number; diskBytes?: number; guestSeq?: number };
  return {
    vm: c.vm, uuid: c.uuid, seq: c.seq, takenAt: c.takenAt, committedAt: c.committedAt,
    memoryBytes: m.memoryBytes ?? 0, diskBytes: m.diskBytes ?? 0, ...(m.guestSeq !== undefined ? { guestSeq: m.guestSeq } : {}),
  };
}

export class DrService {
  #store: ChunkStore | undefined;
  readonly #jobs = new Map<string, Job>();
  readonly #hold = new OutputHold();

  constructor(readonly ctx: AgentContext) {
  }

  /** Opened on first use: opening syncs the store's directories, which a host that never replicates need not pay at start. */
  get store(): ChunkStore {
    this.#store ??= ChunkStore.open(join(this.ctx.dataDir, 'dr-store'));
    return this.#store;
  }

  job(id: string): CheckpointProgress {
    const j = this.#jobs.get(id);
    if (!j) throw new FerryError('NOT_FOUND', `no checkpoint job ${id} on this host`);
    return structuredClone(j.p);
  }

  #add(j: Job): void {
    if (this.#jobs.has(j.p.id)) throw new FerryError('CONFLICT', `checkpoint job ${j.p.id} already exists on this host`);
    for (const other of this.#jobs.values()) {
      if (other.p.vm === j.p.vm && other.p.role === j.p.role && isLive(other.p)) {
        throw new FerryError('CONFLICT', `vm ${j.p.vm} already has checkpoint job ${other.p.id} running here`);
      }
    }
    this.#jobs.set(j.p.id, j);
    for (const [id, old] of this.#jobs) {
      if (this.#jobs.size <= MAX_KEPT) break;
      if (!isLive(old.p)) this.#jobs.delete(id);
    }
  }

  /** DR host: expect the session for one checkpoint; it commits only when complete. */
  receive(req: ReceiveCheckpointRequest): CheckpointProgress {
    const j: Job = { p: blank(req.jobId, 'target', req.vm, req.seq), abort: new AbortController(), done: Promise.resolve() };
    if (this.store.get(req.vm, req.seq)) throw new FerryError('CONFLICT', `checkpoint ${req.seq} of vm ${req.vm} is already stored here`);
    this.#add(j);
    const staging = this.store.begin(req.vm, req.seq);
    let settle!: () => void;
    j.done = new Promise<void>((r) => (settle = r));
    const timer = setTimeout(() => fail(new FerryError('TIMEOUT', `no replication session from ${req.sourceHost} within ${SESSION_WAIT_MS / 1000} s`)), SESSION_WAIT_MS);
    const fail = (err: Error & { code?: string }, state: 'failed' | 'aborted' = 'failed'): void => {
      clearTimeout(timer);
      this.ctx.plane.unexpect(req.jobId);
      staging.abort();
      if (isLive(j.p)) Object.assign(j.p, { state, error: { code: err.code ?? 'INTERNAL', message: err.message } });
      settle();
    };
    j.abort.signal.addEventListener('abort', () => fail(new FerryError('ABORTED', 'aborted by request'), 'aborted'));
    const onSession = (s: DataSession): void => {
      clearTimeout(timer);
      if (!isLive(j.p)) return s.destroy(new Error(`checkpoint job ${req.jobId} is ${j.p.state}`));
      j.p.state = 'sending';
      j.abort.signal.addEventListener('abort', () => s.destroy(new FerryError('ABORTED', 'aborted by request')));
      this.#receive(j, s, staging, req).then(settle, (err: Error & { code?: string }) => {
        // The source hears why (a full store is a capacity problem, not a broken link).
        s.destroy(err.code === 'STORE_FULL' ? new FerryError('NO_CAPACITY', `DR host ${this.ctx.hostName}: ${err.message}`) : err);
        fail(err);
      });
    };
    // What the staging says it holds stays held until the commit (retention cannot take it meanwhile).
    const held = { hasChunk: (id: Buffer) => staging.hasChunk(id), getChunk: (id: Buffer) => this.store.getChunk(id) };
    this.ctx.plane.expect(req.jobId, req.sourceHost, onSession, { kind: 'replication', store: held });
    log('dr job %s: expecting checkpoint %d of vm %s from %s', req.jobId, req.seq, req.vm, req.sourceHost);
    return this.job(req.jobId);
  }

  async #receive(j: Job, s: DataSession, staging: Staging, req: ReceiveCheckpointRequest): Promise<void> {
    const r = await receiveFiles(s, staging, (n) => (j.p.bytesDone += n));
    await s.closed.catch(() => undefined);
    const meta = r.manifest.meta as { memoryBytes?: number; diskBytes?: number; guestSeq?: number; pauseMs?: number };
    const freed = this.store.retain(req.vm, req.keep);
    Object.assign(j.p, {
      state: 'committed', takenAt: r.manifest.takenAt, newBytes: r.newBytes, wireBytes: s.wireBytes(), bytesTotal: j.p.bytesDone,
      memoryBytes: meta.memoryBytes ?? 0, diskBytes: meta.diskBytes ?? 0,
      ...(meta.pauseMs !== undefined ? { pauseMs: meta.pauseMs } : {}), ...(meta.guestSeq !== undefined ? { guestSeq: meta.guestSeq } : {}),
    });
    log('dr job %s: committed checkpoint %d of vm %s: %d new bytes, %d wire bytes; retention freed %d bytes', req.jobId, req.seq, req.vm, r.newBytes, j.p.wireBytes, freed);
  }

  /** Protected host: capture the VM and send the checkpoint; returns at once, progress by polling. */
  send(req: SendCheckpointRequest): CheckpointProgress {
    const vm = this.ctx.mgr.get(req.vm);
    if (vm.migrationId) throw new FerryError('CONFLICT', `vm ${req.vm} is being migrated (migration ${vm.migrationId})`);
    if (vm.rec.state !== 'running') throw new FerryError('INVALID_STATE', `vm ${req.vm} is ${vm.rec.state}; only a running vm can be checkpointed`);
    const j: Job = { p: blank(req.jobId, 'source', req.vm, req.seq), abort: new AbortController(), done: Promise.resolve() };
    this.#add(j);
    j.done = this.#send(j, req).catch((err: Error & { code?: string }) => {
      if (isLive(j.p)) Object.assign(j.p, { state: j.abort.signal.aborted ? 'aborted' : 'failed', error: { code: err.code ?? 'INTERNAL', message: err.message } });
      log('dr job %s: checkpoint %d of vm %s failed: %s', req.jobId, req.seq, req.vm, err.message);
    });
    return this.job(req.jobId);
  }

  async #send(j: Job, req: SendCheckpointRequest): Promise<void> {
    const vm = this.ctx.mgr.get(req.vm);
    const signal = j.abort.signal;
    const work = join(vm.paths.dir, `checkpoint-${req.seq}`);
    let cap: Capture | undefined;
    let local: Staging | undefined;
    let session: DataSession | undefined;
    try {
      if (!req.holdOutput && this.#hold.holding(vm.name) > 0) await this.#hold.releaseAll(vm);
      const atInstant = req.holdOutput ? () => this.#hold.startEpoch(vm, req.seq) : undefined;
      cap = await captureCheckpoint(vm, work, { leavePaused: req.leavePaused ?? false, signal, ...(atInstant ? { atInstant } : {}) });
      Object.assign(j.p, {
        state: 'sending', takenAt: cap.takenAt, pauseMs: cap.pauseMs, memoryBytes: cap.memoryBytes, diskBytes: cap.diskBytes,
        bytesTotal: cap.files.reduce((n, f) => n + f.size, 0), ...(cap.guestSeq !== undefined ? { guestSeq: cap.guestSeq } : {}),
      });
      session = await this.ctx.plane.connect(req.targetDataUrl, req.targetHost, { kind: 'replication', sessionId: req.jobId, sourceHost: this.ctx.hostName }, {
        mode: 'chunked', signal, ...(req.bandwidthBytesPerSec ? { bandwidthBytesPerSec: req.bandwidthBytesPerSec } : {}),
      });
      const s = session;
      s.closed.catch(() => undefined);
      local = this.store.get(req.vm, req.seq) ? undefined : this.store.begin(req.vm, req.seq);
      const meta = { pauseMs: cap.pauseMs, memoryBytes: cap.memoryBytes, diskBytes: cap.diskBytes, ...(cap.guestSeq !== undefined ? { guestSeq: cap.guestSeq } : {}) };
      const manifest = { vm: req.vm, uuid: vm.rec.spec.uuid, seq: req.seq, takenAt: cap.takenAt, spec: vm.rec.spec, meta };
      const timer = setInterval(() => (j.p.wireBytes = s.wireBytes()), 250);
      let v;
      try {
        v = await sendFiles(s, cap.files, manifest, (n) => (j.p.bytesDone += n), local);
      } finally {
        clearInterval(timer);
      }
      s.close();
      await s.closed.catch(() => undefined);
      if (local && v.localFiles) {
        local.commit({ ...manifest, files: v.localFiles });
        this.store.retain(req.vm, LOCAL_KEEP);
      }
      // Zero-loss mode: what the guest sent before this checkpoint's instant is safe now.
      if (req.holdOutput) await this.#hold.committed(vm, req.seq);
      // The VM is ready for the next capture only once the overlays are merged back: the
      // controller may start it the moment it sees `committed`.
      await cap.release();
      Object.assign(j.p, { state: 'committed', wireBytes: s.wireBytes(), newBytes: v.newBytes ?? 0 });
      log('dr job %s: checkpoint %d of vm %s committed at %s: pause %d ms, %d wire bytes, %d new at the DR host', req.jobId, req.seq, req.vm, req.targetHost, cap.pauseMs, j.p.wireBytes, j.p.newBytes);
    } catch (err) {
      local?.abort();
      // A refusal from the DR host (a full store, say) ends the session with its reason, which
      // says more than the write that failed here.
      const peer = session && !signal.aborted ? await Promise.race([session.closed.then(() => undefined, (e: Error) => e), sleep(PEER_REASON_WAIT_MS)]) : undefined;
      session?.destroy(err as Error);
      throw peer instanceof FerryError ? peer : err;
    } finally {
      await cap?.release().catch((err: Error) => log('dr job %s: releasing the capture of vm %s: %s', req.jobId, req.vm, err.message));
      rmSync(work, { recursive: true, force: true });
    }
  }

  async abort(id: string): Promise<CheckpointProgress> {
    const j = this.#jobs.get(id);
    if (!j) throw new FerryError('NOT_FOUND', `no checkpoint job ${id} on this host`);
    if (isLive(j.p)) j.abort.abort();
    await j.done;
    return this.job(id);
  }

  list(vm: string): StoredCheckpoint[] {
    return this.store.list(vm).filter((c) => !c.damaged).map(storedView);
  }

  async drop(vm: string): Promise<{ freedBytes: number }> {
    for (const j of this.#jobs.values()) if (j.p.vm === vm && isLive(j.p)) j.abort.abort();
    const local = this.ctx.mgr.vms.get(vm);
    if (local && this.#hold.holding(vm) > 0) await this.#hold.releaseAll(local);
    return { freedBytes: this.store.drop(vm) };
  }

  restore(req: RestoreRequest): Promise<VmStatus> {
    return restoreCheckpoint(this.ctx, this.store, req);
  }

  scrub(): Promise<ScrubReport> {
    return this.store.scrub();
  }

  async close(): Promise<void> {
    for (const j of this.#jobs.values()) if (isLive(j.p)) j.abort.abort();
    await Promise.all([...this.#jobs.values()].map((j) => j.done));
    this.#store?.close();
  }
}

function isLive(p: CheckpointProgress): boolean {
  return p.state === 'waiting' || p.state === 'capturing' || p.state === 'sending';
}
