// One checkpoint of a protected VM from one host to another (cycle.ts over the agents), with a
// seq never used before, recorded as it commits. The replicator uses it for the scheduled
// checkpoints, planned failover and failback for theirs.
import { randomUUID } from 'node:crypto';
import type { CheckpointProgress, CheckpointRecord } from '../../contracts/dr.js';
import type { VmSpec } from '../../contracts/vm-spec.js';
import type { ClusterState } from '../cluster-state.js';
import { InvalidStateError } from '../errors.js';
import type { DrAgents } from './agent-io.js';
import { runCheckpoint } from './cycle.js';
import type { Protections } from './protections.js';
import type { ProtectionMeta } from './repo.js';

export interface CheckpointRoute {
  from: string;
  to: string;
  /** false for failback's checkpoints home: they are not the DR site's copy. */
  atDrSite: boolean;
  leavePaused?: boolean;
  progress?: (p: CheckpointProgress) => void;
}

export class Checkpointer {
  /** Highest seq tried per VM in this process: a seq is never reused, even after a failure. */
  private readonly tried = new Map<string, number>();

  constructor(
    private readonly state: ClusterState,
    private readonly calls: DrAgents,
    private readonly protections: Protections,
  ) {}

  async run(vm: string, route: CheckpointRoute, signal: AbortSignal): Promise<CheckpointRecord> {
    const rec = this.state.requireVm(vm);
    const targetDataUrl = this.state.requireHostUp(route.to).info.dataUrl;
    if (!targetDataUrl) throw new InvalidStateError(`host ${route.to} has no data endpoint (ferry-wire) to receive checkpoints`);
    const seq = await this.nextSeq(vm, route.to, signal);
    const jobId = randomUUID();
    const io = this.calls.checkpointIo(jobId, route.from, route.to, {
      committed: (r) => this.protections.committed(r, route.atDrSite),
      ...(route.progress ? { progress: route.progress } : {}),
    });
    this.noteInFlight(vm, { jobId, from: route.from, to: route.to });
    try {
      return await this.runJob(io, vm, jobId, seq, route, rec.spec, targetDataUrl, signal);
    } finally {
      this.noteInFlight(vm, undefined, jobId);
    }
  }

  /** Jobs a previous controller left running (it died mid-checkpoint): aborted on both hosts, then forgotten. */
  async abortLeftovers(): Promise<void> {
    const left = this.protections.repo.list().filter((r) => r.meta.checkpointInFlight);
    await Promise.all(
      left.map(async (r) => {
        const job = r.meta.checkpointInFlight!;
        await Promise.all([this.calls.abort(job.from, job.jobId), this.calls.abort(job.to, job.jobId)]);
        this.noteInFlight(r.protection.vm, undefined, job.jobId);
      }),
    );
  }

  /** Notes (or, if it is still `ifJob`, clears) the VM's checkpoint job in flight. */
  private noteInFlight(vm: string, job: ProtectionMeta['checkpointInFlight'], ifJob?: string): void {
    this.protections.repo.update(vm, (r) => {
      if (ifJob !== undefined && r.meta.checkpointInFlight?.jobId !== ifJob) return r;
      const meta: ProtectionMeta = { ...r.meta };
      if (job) meta.checkpointInFlight = job;
      else delete meta.checkpointInFlight;
      return { ...r, meta };
    });
  }

  private runJob(io: ReturnType<DrAgents['checkpointIo']>, vm: string, jobId: string, seq: number, route: CheckpointRoute, spec: VmSpec, targetDataUrl: string, signal: AbortSignal): Promise<CheckpointRecord> {
    const p = this.protections.row(vm).protection;
    return runCheckpoint(
      io,
      {
        jobId, spec, seq, sourceHost: route.from, targetHost: route.to, targetDataUrl, keep: p.keep,
        ...(p.bandwidthBytesPerSec !== undefined ? { bandwidthBytesPerSec: p.bandwidthBytesPerSec } : {}),
        ...(route.leavePaused ? { leavePaused: true } : {}),
        // Zero-loss mode holds output on the protected side; a failback's checkpoints run the other way.
        ...(p.rpoMs === 0 && route.atDrSite ? { holdOutput: true } : {}),
      },
      signal,
    );
  }

  /** Above every recorded seq, every one tried here, and (the first time) every one the target holds. */
  private async nextSeq(vm: string, host: string, signal: AbortSignal): Promise<number> {
    let last = Math.max(this.protections.repo.lastSeq(vm) ?? 0, this.tried.get(vm) ?? 0);
    if (!this.tried.has(vm)) {
      const held = await this.calls.up(host).drStored(vm, signal).catch(() => []);
      last = Math.max(last, ...held.map((c) => c.seq));
    }
    this.tried.set(vm, last + 1);
    return last + 1;
  }
}
