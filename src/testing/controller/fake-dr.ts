// The DR half of the fake agent (src/contracts/dr.ts agent routes): no QEMU, no chunk store and no
// data plane, just the states a real agent goes through, so the controller's replication,
// failover and failback can be tested. A receive registers its job id; the send with the same
// id (the ferry-wire session's id in real life) hands its checkpoint to that receiver. The
// source commits after `pollsToCommit` progress polls; the target stores the checkpoint and
// keeps the newest `keep`. A restore starts a VM (or a copy under another name) from the store.
// Requests arrive validated and replies are checked against the route table (contract-server.ts).
import { randomUUID } from 'node:crypto';
import type { CheckpointProgress, ReceiveCheckpointRequest, RestoreRequest, SendCheckpointRequest, StoredCheckpoint } from '../../contracts/dr.js';
import type { FailureSummary } from '../../contracts/errors.js';
import { lastHeartbeat } from '../../contracts/heartbeat.js';
import type { VmSpec, VmStatus } from '../../contracts/vm-spec.js';
import { fail, ok, type FakeReply } from './contract-server.js';

type Job = CheckpointProgress & { polls: number; keep?: number; spec?: VmSpec };
type Stored = StoredCheckpoint & { spec: VmSpec };

/** Receivers by job id, across the fake agents of one test process. */
const receivers = new Map<string, FakeDr>();

export class FakeDr {
  readonly jobs = new Map<string, Job>();
  /** Committed checkpoints per VM, newest first. */
  readonly store = new Map<string, Stored[]>();
  readonly restores: RestoreRequest[] = [];
  readonly sends: SendCheckpointRequest[] = [];
  pollsToCommit = 2;
  /** Bytes on the wire of a checkpoint: the first of a VM is its whole memory, later ones a delta. */
  wireBytes = (seq: number, memoryBytes: number): number => (seq === 1 ? memoryBytes : 256 * 1024);
  /** The next checkpoint sent from here fails at its first poll with this error. */
  failNext: FailureSummary | undefined;
  /** Jobs sent from here stay `sending` until this is set back to false. */
  stall = false;

  constructor(
    private readonly vms: Map<string, VmStatus>,
    private readonly consoleText: (name: string) => string,
  ) {}

  /** Committed checkpoints of a VM held here, newest first. */
  stored(vm: string): FakeReply {
    return ok((this.store.get(vm) ?? []).map(({ spec: _spec, ...c }) => c));
  }

  dropStore(vm: string): FakeReply {
    const list = this.store.get(vm) ?? [];
    this.store.delete(vm);
    return ok({ freedBytes: list.reduce((n, c) => n + c.memoryBytes, 0) });
  }

  /** A job's progress; a source's advances with each poll. */
  job(id: string): FakeReply {
    const job = this.jobs.get(id);
    if (!job) return noJob(id);
    if (job.role === 'source' && !['committed', 'failed', 'aborted'].includes(job.state)) this.advance(job);
    return ok(view(job));
  }

  abort(id: string): FakeReply {
    const job = this.jobs.get(id);
    if (!job) return noJob(id);
    if (job.state !== 'committed') job.state = 'aborted';
    return ok(view(job));
  }

  receive(req: ReceiveCheckpointRequest): FakeReply {
    const memoryBytes = req.spec.memoryMiB * 1024 * 1024;
    this.jobs.set(req.jobId, { ...blank(req.jobId, 'target', req.vm, req.seq, memoryBytes), state: 'waiting', keep: req.keep, spec: req.spec });
    receivers.set(req.jobId, this);
    return ok(view(this.jobs.get(req.jobId)!));
  }

  send(req: SendCheckpointRequest): FakeReply {
    this.sends.push(req);
    const vm = this.vms.get(req.vm);
    if (!vm) return fail('NOT_FOUND', `no VM ${req.vm}`);
    if (vm.state !== 'running') return fail('INVALID_STATE', `VM ${req.vm} is ${vm.state}`);
    const memoryBytes = vm.spec.memoryMiB * 1024 * 1024;
    const guestSeq = lastHeartbeat(this.consoleText(req.vm))?.seq;
    const job: Job = { ...blank(req.jobId, 'source', req.vm, req.seq, memoryBytes), state: 'capturing', takenAt: new Date().toISOString(), pauseMs: 7, ...(guestSeq !== undefined ? { guestSeq } : {}) };
    this.jobs.set(req.jobId, job);
    if (req.leavePaused) this.vms.set(req.vm, { ...vm, state: 'paused' });
    return ok(view(job));
  }

  private advance(job: Job): void {
    job.polls++;
    if (this.failNext) {
      Object.assign(job, { state: 'failed', error: this.failNext });
      this.failNext = undefined;
      return;
    }
    const target = receivers.get(job.id)?.jobs.get(job.id);
    if (!target || target.state === 'aborted') {
      Object.assign(job, { state: 'failed', error: { code: 'WIRE_CLOSED', message: `no receiver for session ${job.id}` } });
      return;
    }
    job.state = 'sending';
    job.bytesDone = Math.min(job.bytesTotal, (job.bytesTotal * job.polls) / this.pollsToCommit);
    if (this.stall || job.polls < this.pollsToCommit) return;
    const wire = this.wireBytes(job.seq, job.memoryBytes);
    Object.assign(job, { state: 'committed', bytesDone: job.bytesTotal, wireBytes: wire });
    receivers.get(job.id)!.commit(target, job, wire);
    receivers.delete(job.id);
  }

  private commit(target: Job, source: Job, wire: number): void {
    Object.assign(target, { state: 'committed', bytesDone: target.bytesTotal, wireBytes: wire + 4096, newBytes: wire });
    const c: Stored = {
      vm: target.vm, uuid: target.spec!.uuid, seq: target.seq, takenAt: source.takenAt!, committedAt: new Date().toISOString(),
      memoryBytes: target.memoryBytes, diskBytes: 0, spec: target.spec!, ...(source.guestSeq !== undefined ? { guestSeq: source.guestSeq } : {}),
    };
    const list = [c, ...(this.store.get(target.vm) ?? [])].slice(0, target.keep ?? 3);
    this.store.set(target.vm, list);
  }

  restore(req: RestoreRequest): FakeReply {
    this.restores.push(req);
    const c = (this.store.get(req.vm) ?? []).find((x) => req.seq === undefined || x.seq === req.seq);
    if (!c) return fail('NOT_FOUND', `no committed checkpoint ${req.seq ?? '(newest)'} of ${req.vm}`);
    const name = req.asName ?? req.vm;
    if (this.vms.has(name)) return fail('CONFLICT', `a VM named ${name} exists on this host`);
    const uuid = req.asName ? randomUUID() : c.uuid;
    const st: VmStatus = { name, uuid, state: 'running', spec: { ...c.spec, name, uuid }, endpoints: [] };
    this.vms.set(name, st);
    return ok(st);
  }
}

function blank(id: string, role: 'source' | 'target', vm: string, seq: number, memoryBytes: number): Job {
  return { id, role, vm, seq, state: 'waiting', memoryBytes, diskBytes: 0, bytesDone: 0, bytesTotal: memoryBytes, wireBytes: 0, newBytes: 0, polls: 0 };
}

function view(job: Job): CheckpointProgress {
  const p: Partial<Job> = { ...job };
  delete p.polls;
  delete p.keep;
  delete p.spec;
  return p as CheckpointProgress;
}

const noJob = (id: string): FakeReply => fail('NOT_FOUND', `no checkpoint job ${id}`);
