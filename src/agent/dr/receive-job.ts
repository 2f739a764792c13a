// The DR host's side of one checkpoint job (job.ts: waiting → sending → committed): expect the
// protected host's replication session, take the files into a store staging (transfer.ts) and
// commit the checkpoint only when every file arrived; then apply retention. Whatever ends the
// job — no session in time, an abort, a failed transfer — goes through one teardown.
import { FerryError, type ReceiveCheckpointRequest } from '../../contracts/index.js';
import type { AgentContext } from '../agent-context.js';
import type { DataSession } from '../data-plane/plane.js';
import { log } from '../log.js';
import { failureOf } from './errors.js';
import type { CheckpointJob } from './job.js';
import type { ChunkStore, Staging } from './store/index.js';
import { isFullError } from './store/errors.js';
import { receiveFiles, type CheckpointMeta } from './transfer.js';

const SESSION_WAIT_MS = 60_000;

export interface ReceiveDeps {
  ctx: AgentContext;
  store: ChunkStore;
}

/** Starts expecting the job's session; the job's `done` settles when it has ended. Throws (nothing set up) if the store cannot stage it. */
export function receiveCheckpoint({ ctx, store }: ReceiveDeps, job: CheckpointJob, req: ReceiveCheckpointRequest): void {
  const staging = store.begin(req.vm, req.seq);
  const aborted = (): FerryError => new FerryError('ABORTED', 'aborted by request');
  let settle!: () => void;
  job.track(new Promise<void>((resolve) => (settle = resolve)));
  let ended = false;
  // The one teardown: stop waiting, drop what was staged unless committed, end the job with the cause.
  const end = (err?: unknown): void => {
    if (ended) return;
    ended = true;
    clearTimeout(timer);
    job.signal.removeEventListener('abort', onAbort);
    ctx.plane.unexpect(req.jobId);
    if (err !== undefined) {
      staging.abort();
      job.settle(err);
    }
    settle();
  };
  const onAbort = (): void => end(aborted());
  const timer = setTimeout(() => end(new FerryError('TIMEOUT', `no replication session from ${req.sourceHost} within ${SESSION_WAIT_MS / 1000} s`)), SESSION_WAIT_MS);
  job.signal.addEventListener('abort', onAbort, { once: true });

  const onSession = (s: DataSession): void => {
    clearTimeout(timer);
    try {
      job.to('sending');
    } catch (refused) {
      return s.destroy(refused instanceof Error ? refused : undefined); // the job ended (no session in time, aborted) before this one came
    }
    job.signal.addEventListener('abort', () => s.destroy(aborted()), { once: true });
    take(s, staging).then(() => end(), (err: unknown) => {
      // The source hears why (a full store is a capacity problem, not a broken link).
      s.destroy(isFullError(err) ? new FerryError('NO_CAPACITY', `DR host ${ctx.hostName}: ${failureOf(err).message}`) : err instanceof Error ? err : undefined);
      end(err);
    });
  };

  const take = async (s: DataSession, into: Staging): Promise<void> => {
    const r = await receiveFiles(s, into, (n) => job.addBytes(n), store);
    await s.closed.catch(() => undefined);
    const meta = r.manifest.meta as CheckpointMeta;
    const freed = store.retain(req.vm, req.keep);
    job.to('committed', {
      takenAt: r.manifest.takenAt, newBytes: r.newBytes, wireBytes: s.wireBytes(), bytesTotal: job.progress.bytesDone,
      memoryBytes: meta.memoryBytes ?? 0, diskBytes: meta.diskBytes ?? 0,
      ...(meta.pauseMs !== undefined ? { pauseMs: meta.pauseMs } : {}), ...(meta.guestSeq !== undefined ? { guestSeq: meta.guestSeq } : {}),
    });
    log('dr job %s: committed checkpoint %d of vm %s: %d new bytes, %d wire bytes; retention freed %d bytes', req.jobId, req.seq, req.vm, r.newBytes, s.wireBytes(), freed);
  };

  // What the staging says it holds stays held until the commit (retention cannot take it meanwhile).
  const held = { hasChunk: (id: Buffer) => staging.hasChunk(id), getChunk: (id: Buffer) => store.getChunk(id) };
  ctx.plane.expect(req.jobId, req.sourceHost, onSession, { kind: 'replication', store: held });
  log('dr job %s: expecting checkpoint %d of vm %s from %s', req.jobId, req.seq, req.vm, req.sourceHost);
}
