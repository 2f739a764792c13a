// One checkpoint, as one job on two agents (docs/dr.md): the DR host expects the session
// (receive), the protected host captures the VM and sends it (send), we poll the source until
// it says committed or failed, confirm the commit with the target, and record the checkpoint.
// The agent calls go through the `CheckpointIo` it is given, so the sequence is tested with fakes.
//
// Any failure or abort after the receive call aborts the job on both sides (best effort); the
// DR store keeps its last committed checkpoint whatever happens (the agents' atomic commit).
import { setTimeout as sleep } from 'node:timers/promises';
import type { CheckpointProgress, CheckpointRecord, ReceiveCheckpointRequest, SendCheckpointRequest } from '../../contracts/dr.js';
import type { VmSpec } from '../../contracts/vm-spec.js';
import { DrFailedError, reportedCode } from '../errors.js';

export const POLL_MS = 250;
/** A job whose progress does not move for this long has stalled (cut link, silent peer). */
export const STALL_MS = 120_000;
/** The target commits the manifest before the source hears of it; allow it a moment to say so. */
export const CONFIRM_MS = 30_000;

export interface CheckpointIo {
  receive(req: ReceiveCheckpointRequest, signal: AbortSignal): Promise<CheckpointProgress>;
  send(req: SendCheckpointRequest, signal: AbortSignal): Promise<CheckpointProgress>;
  sourceJob(signal: AbortSignal): Promise<CheckpointProgress>;
  targetJob(signal: AbortSignal): Promise<CheckpointProgress>;
  /** Best effort on both sides, each with its own timeout; never throws. */
  abortBoth(): Promise<void>;
  /** The target confirmed the commit: keep the record (and tell whoever cares). */
  committed(rec: CheckpointRecord): void;
  /** Each report of the source while the job runs. */
  progress?(p: CheckpointProgress): void;
  log(fmt: string, ...args: unknown[]): void;
}

export interface CheckpointInput {
  jobId: string;
  spec: VmSpec;
  seq: number;
  sourceHost: string;
  targetHost: string;
  targetDataUrl: string;
  keep: number;
  bandwidthBytesPerSec?: number;
  /** Planned failover and failback: the VM stays paused after the capture. */
  leavePaused?: boolean;
  /** Zero-loss mode (RPO 0): the guest's output waits for the commit of the checkpoint that produced it. */
  holdOutput?: boolean;
}

export async function runCheckpoint(io: CheckpointIo, inp: CheckpointInput, signal: AbortSignal): Promise<CheckpointRecord> {
  const started = performance.now();
  const vm = inp.spec.name;
  try {
    await io.receive({ jobId: inp.jobId, vm, seq: inp.seq, sourceHost: inp.sourceHost, spec: inp.spec, keep: inp.keep }, signal);
    const send: SendCheckpointRequest = {
      jobId: inp.jobId, vm, seq: inp.seq, targetHost: inp.targetHost, targetDataUrl: inp.targetDataUrl,
      ...(inp.bandwidthBytesPerSec !== undefined ? { bandwidthBytesPerSec: inp.bandwidthBytesPerSec } : {}),
      ...(inp.leavePaused ? { leavePaused: true } : {}),
      ...(inp.holdOutput ? { holdOutput: true } : {}),
    };
    const source = await untilSettled(io, inp, await io.send(send, signal), signal);
    const target = await confirmed(io, inp, signal);
    const rec = toRecord(inp, source, target, performance.now() - started);
    io.committed(rec);
    return rec;
  } catch (err) {
    io.log('checkpoint %d of %s (%s -> %s) failed: %s; aborting both sides', inp.seq, vm, inp.sourceHost, inp.targetHost, (err as Error).message);
    await io.abortBoth();
    throw signal.aborted ? (signal.reason ?? err) : err;
  }
}

/** Polls the source until it reports the checkpoint committed; failed, aborted or stalled throws. */
async function untilSettled(io: CheckpointIo, inp: CheckpointInput, first: CheckpointProgress, signal: AbortSignal): Promise<CheckpointProgress> {
  let p = first;
  let mark = progressMark(p);
  let movedAt = performance.now();
  for (;;) {
    io.progress?.(p);
    if (p.state === 'committed') return p;
    if (p.state === 'failed' || p.state === 'aborted') throw jobError(p, inp.sourceHost);
    const now = performance.now();
    if (progressMark(p) !== mark) [mark, movedAt] = [progressMark(p), now];
    else if (now - movedAt > STALL_MS) throw new DrFailedError('TIMEOUT', `checkpoint ${inp.seq} of ${inp.spec.name}: no progress from ${inp.sourceHost} for ${STALL_MS / 1000} s (${p.state})`);
    await sleep(POLL_MS, undefined, { signal });
    p = await io.sourceJob(signal);
  }
}

async function confirmed(io: CheckpointIo, inp: CheckpointInput, signal: AbortSignal): Promise<CheckpointProgress> {
  const deadline = performance.now() + CONFIRM_MS;
  for (;;) {
    const p = await io.targetJob(signal);
    if (p.state === 'committed') return p;
    if (p.state === 'failed' || p.state === 'aborted') throw jobError(p, inp.targetHost);
    if (performance.now() > deadline) throw new DrFailedError('TIMEOUT', `${inp.targetHost} has not confirmed checkpoint ${inp.seq} of ${inp.spec.name} ${CONFIRM_MS / 1000} s after the source reported it committed`);
    await sleep(POLL_MS, undefined, { signal });
  }
}

const progressMark = (p: CheckpointProgress): string => `${p.state}/${p.bytesDone}/${p.wireBytes}`;

function jobError(p: CheckpointProgress, host: string): DrFailedError {
  return new DrFailedError(reportedCode(p.error, 'CHECKPOINT_FAILED'), p.error?.message ?? `${host} reports checkpoint ${p.seq} of ${p.vm} ${p.state}`);
}

/** The record: bytes as the DR host counted them, the instant and pause as the source measured them. */
export function toRecord(inp: CheckpointInput, source: CheckpointProgress, target: CheckpointProgress, durationMs: number, now = new Date()): CheckpointRecord {
  const guestSeq = source.guestSeq ?? target.guestSeq;
  return {
    vm: inp.spec.name,
    seq: inp.seq,
    host: inp.targetHost,
    takenAt: source.takenAt ?? target.takenAt ?? new Date(now.getTime() - durationMs).toISOString(),
    committedAt: now.toISOString(),
    pauseMs: source.pauseMs ?? 0,
    durationMs: Math.round(durationMs),
    memoryBytes: source.memoryBytes || target.memoryBytes,
    diskBytes: source.diskBytes || target.diskBytes,
    wireBytes: target.wireBytes || source.wireBytes,
    newBytes: target.newBytes,
    ...(guestSeq !== undefined ? { guestSeq } : {}),
  };
}
