// The protected host's side of one checkpoint job (job.ts: capturing → sending → committed):
// capture the VM (capture.ts), send it to the DR host — whole (transfer.ts) when this host has
// no base, else only the pages that changed since the base (delta/) — and after the DR host's
// commit keep its files as the next one's base (delta/base-files.ts). A full checkpoint also
// goes into this host's own store, retaining only that one, so a failback later sends just
// what changed since.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FerryError, type SendCheckpointRequest } from '../../contracts/index.js';
import type { AgentContext } from '../agent-context.js';
import type { DataSession } from '../data-plane/plane.js';
import { log } from '../log.js';
import { CheckpointCapture } from './capture.js';
import type { CheckpointJob } from './job.js';
import type { OutputHold } from './output-hold.js';
import type { ChunkStore, Staging } from './store/index.js';
import { sendFiles, type CheckpointMeta, type Verdict } from './transfer.js';
import type { CheckpointFile } from './store/index.js';
import { dropBase, keepAsBase, readBase } from './delta/base-files.js';
import { diffFiles, sendDelta } from './delta/send-delta.js';

/** How long a failed send waits for the DR host's reason for ending the session. */
const PEER_REASON_WAIT_MS = 500;
const WIRE_BYTES_EVERY_MS = 250;
/** The protected host keeps only the newest checkpoint it sent: the one both sides share. */
const LOCAL_KEEP = 1;

export interface SendDeps {
  ctx: AgentContext;
  store: ChunkStore;
  hold: OutputHold;
}

/** Runs the job to `committed`; rejects with the cause otherwise (the caller settles the job with it). */
export async function sendCheckpoint({ ctx, store, hold }: SendDeps, job: CheckpointJob, req: SendCheckpointRequest): Promise<void> {
  const vm = ctx.mgr.get(req.vm);
  const signal = job.signal;
  const work = join(vm.paths.dir, `checkpoint-${req.seq}`);
  const atInstant = req.holdOutput ? () => hold.startEpoch(vm, req.seq, { signal }) : undefined;
  const capture = new CheckpointCapture(vm, work, { leavePaused: req.leavePaused ?? false, signal, ...(atInstant ? { atInstant } : {}) });
  let local: Staging | undefined;
  let session: DataSession | undefined;
  let incremental = false;
  try {
    if (!req.holdOutput && hold.holding(vm.name) > 0) await hold.releaseAll(vm);
    const t0 = performance.now();
    const cap = await capture.run();
    const tCaptured = performance.now();
    job.to('sending', {
      takenAt: cap.takenAt, pauseMs: cap.pauseMs, memoryBytes: cap.memoryBytes, diskBytes: cap.diskBytes,
      bytesTotal: cap.files.reduce((n, f) => n + f.size, 0), ...(cap.guestSeq !== undefined ? { guestSeq: cap.guestSeq } : {}),
    });
    // Incremental when this host holds the files of the last checkpoint the DR host committed
    // from it (dr-base/); a DR host that no longer has that one refuses, and the next is full.
    // A full checkpoint is deduplicated chunk by chunk (chunked mode).
    const base = readBase(vm.paths.dir);
    incremental = base !== undefined;
    session = await ctx.plane.connect(req.targetDataUrl, req.targetHost, { kind: 'replication', sessionId: req.jobId, sourceHost: ctx.hostName }, {
      mode: incremental ? 'passthrough' : 'chunked', signal, ...(req.bandwidthBytesPerSec ? { bandwidthBytesPerSec: req.bandwidthBytesPerSec } : {}),
    });
    const s = session;
    s.closed.catch(() => undefined);
    // A full checkpoint also goes into this host's own store, which a failback deduplicates against.
    local = incremental || store.get(req.vm, req.seq) ? undefined : store.begin(req.vm, req.seq);
    const meta: CheckpointMeta = { pauseMs: cap.pauseMs, memoryBytes: cap.memoryBytes, diskBytes: cap.diskBytes, ...(cap.guestSeq !== undefined ? { guestSeq: cap.guestSeq } : {}) };
    const manifest = { vm: req.vm, uuid: vm.rec.spec.uuid, seq: req.seq, takenAt: cap.takenAt, spec: vm.rec.spec, meta };
    const timer = setInterval(() => job.update({ wireBytes: s.wireBytes() }), WIRE_BYTES_EVERY_MS);
    let verdict: Verdict & { files?: CheckpointFile[]; localFiles?: CheckpointFile[]; changedBytes?: number };
    try {
      verdict = base
        ? await sendDelta(s, diffFiles(vm.paths.dir, cap.files, base), manifest, base, (n) => job.addBytes(n))
        : await sendFiles(s, cap.files, manifest, (n) => job.addBytes(n), local);
    } finally {
      clearInterval(timer);
    }
    s.close();
    await s.closed.catch(() => undefined);
    if (local && verdict.localFiles) {
      local.commit({ ...manifest, files: verdict.localFiles });
      store.retain(req.vm, LOCAL_KEEP);
    }
    const tSent = performance.now();
    // The files of the checkpoint both hosts now share are the base of the next one.
    const ids = (verdict.files ?? verdict.localFiles)?.map((f) => f.chunks);
    if (ids) keepAsBase(vm.paths.dir, req.seq, cap.files, ids);
    else dropBase(vm.paths.dir);
    // Zero-loss mode: what the guest sent before this checkpoint's instant is safe now.
    if (req.holdOutput) await hold.committed(vm, req.seq);
    // The VM is ready for the next capture only once the overlays are merged back: the
    // controller may start it the moment it sees `committed`.
    await capture.release();
    log('dr job %s: %s checkpoint: capture %d ms, send and commit %d ms, merge back %d ms', req.jobId, incremental ? 'incremental' : 'full', Math.round(tCaptured - t0), Math.round(tSent - tCaptured), Math.round(performance.now() - tSent));
    job.to('committed', { wireBytes: s.wireBytes(), newBytes: verdict.newBytes ?? 0, ...(verdict.changedBytes !== undefined ? { changedBytes: verdict.changedBytes } : {}) });
    const p = job.progress;
    log('dr job %s: checkpoint %d of vm %s committed at %s: pause %d ms, %d wire bytes, %d new at the DR host', req.jobId, req.seq, req.vm, req.targetHost, cap.pauseMs, p.wireBytes, p.newBytes);
  } catch (err) {
    local?.abort();
    // A refusal from the DR host (a full store, say) ends the session with its reason, which
    // says more than the write that failed here.
    const peer = session && !signal.aborted ? await Promise.race([session.closed.then(() => undefined, (e: Error) => e), sleep(PEER_REASON_WAIT_MS)]) : undefined;
    session?.destroy(err instanceof Error ? err : undefined);
    const cause = peer instanceof FerryError ? peer : err;
    // The DR host may have refused the delta for its base (gone, damaged, not the one this host
    // holds); whatever the reason, the next checkpoint starts afresh, full — unless the DR store
    // was full or the job was aborted, which say nothing about the base.
    if (incremental && !signal.aborted && !(cause instanceof FerryError && cause.code === 'NO_CAPACITY')) dropBase(vm.paths.dir);
    throw cause;
  } finally {
    if (capture.state !== 'idle') await capture.release().catch((err: Error) => log('dr job %s: releasing the capture of vm %s: %s', req.jobId, req.vm, err.message));
    rmSync(work, { recursive: true, force: true });
  }
}
