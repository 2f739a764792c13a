// The DR site's content-addressed chunk store (issue 4). A checkpoint arrives as chunks named by
// the SHA-256 of their content, so only chunks the store lacks cross the link, and becomes
// visible only when its manifest commits.
//
// Layout under `dir`: chunks/<2 hex>/<64 hex> (raw chunk bytes), tmp/ (writes in progress),
// index.db (SQLite, WAL: chunks, checkpoints, refs, stagings, GC queue; see store-index.ts).
//
// Durability, and why it holds: a chunk is written to tmp/, fsync'd and only then renamed into
// chunks/, so a chunk's name never points at partial content, whatever crashes. Renames are made
// durable in batches: a commit fsyncs the directories that gained chunks before its one SQLite
// transaction (synchronous=FULL) inserts the checkpoint and its references, so a committed
// checkpoint never names a file a power loss could take back; open() fsyncs every fan-out
// directory for renames an earlier process left unsynced. Until that transaction commits, the
// last committed checkpoint is untouched: a cut link, a crash or a full disk mid-checkpoint
// leaves only unreferenced chunks. Each put checks the free space first and stops at a reserve
// (STORE_FULL), so the index keeps room to record aborts, retention and GC: the store never fills
// its disk to a point where freeing space would need space. If something else fills it to the
// last byte, reads (get, list, materialize) go on working and GC resumes once there is room.
//
// GC, and why it is safe: a chunk is garbage when no committed checkpoint references it (refs)
// and no open staging pins it (staged). Every chunk a staging puts or finds already held is pinned
// before its file is written, so GC never takes a chunk an unfinished checkpoint relies on. GC
// visits only the chunks whose last reference went (a trigger queues them), deletes the file
// first and the row after, so a crash in between leaves a row GC will visit again rather than a
// file nobody knows. Stagings of a dead process are recognised by their owner id and dropped on
// open, which then collects their chunks: a row a crash left behind may name a file a power loss
// took, and must not be mistaken for a chunk the store holds.
import { randomUUID } from 'node:crypto';
import { statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { ScrubReport } from '../../../contracts/dr.js';
import { StoreError, asStoreError, isFullError } from './errors.js';
import { ChunkFiles, checkChunk } from './chunk-files.js';
import type { CommittedCheckpoint } from './manifest.js';
import { materializeFile } from './materialize.js';
import { scrubStore } from './scrub.js';
import { OpenStaging, type Staging, type StagingContext } from './staging.js';
import { StoreIndex, type CheckpointRow } from './store-index.js';

/** Free space kept for the index by default: enough for aborts, retention and GC on a full disk. */
export const DEFAULT_RESERVE_BYTES = 64 * 1024 * 1024;
const GC_BATCH = 512;

export interface ChunkStoreOptions {
  /** Puts fail with STORE_FULL rather than leave less than this free (0: only a real ENOSPC stops them). */
  reserveBytes?: number;
}

function toCheckpoint(r: CheckpointRow): CommittedCheckpoint {
  return { vm: r.vm, uuid: r.uuid, seq: r.seq, takenAt: r.taken_at, committedAt: r.committed_at, damaged: r.damaged !== 0, manifest: JSON.parse(r.manifest) };
}

export class ChunkStore {
  /** Tells this instance's stagings from those a dead process left behind. */
  private readonly owner = randomUUID();
  private readonly abandoned = new Set<string>();
  private readonly ctx: StagingContext;

  private constructor(
    readonly dir: string,
    private readonly files: ChunkFiles,
    private readonly index: StoreIndex,
    readonly reserveBytes: number,
  ) {
    this.ctx = {
      files,
      index,
      inflight: new Map(),
      ensureRoom: (bytes) => this.ensureRoom(bytes),
      abandon: (token) => this.abandoned.add(token),
    };
  }

  /** Creates or opens the store at `dir`, drops what a crash left half-done and collects its chunks. */
  static open(dir: string, opts: ChunkStoreOptions = {}): ChunkStore {
    const files = new ChunkFiles(dir);
    files.prepare();
    const store = new ChunkStore(dir, files, new StoreIndex(join(dir, 'index.db')), opts.reserveBytes ?? DEFAULT_RESERVE_BYTES);
    try {
      store.gc();
    } catch (err) {
      // A disk full to the last byte (another writer filled it): reads still work; the next gc,
      // once there is space, drops the dead stagings and collects their chunks.
      if (!isFullError(err)) {
        store.close();
        throw err;
      }
    }
    return store;
  }

  /** Index lookup only: the chunk file is not read. */
  hasChunk(id: Buffer): boolean {
    return this.index.chunkSize(id) !== undefined;
  }

  /** The chunk's bytes, verified against its id; undefined if the store does not hold it. */
  getChunk(id: Buffer): Buffer | undefined {
    if (!this.hasChunk(id)) return undefined;
    const hex = id.toString('hex');
    const data = this.files.readSync(hex);
    if (data === undefined) throw new StoreError('STORE_CHUNK_CORRUPT', `chunk ${hex}: its file is missing`);
    checkChunk(id, data, 'on read');
    return data;
  }

  /**
   * The chunk's bytes NOT verified: only for bytes that are verified right after (an incremental
   * checkpoint rebuilds a changed chunk from its base chunk and checks the result against the
   * new id, which a corrupt base chunk fails). Undefined if the store does not hold it.
   */
  peekChunk(id: Buffer): Buffer | undefined {
    return this.hasChunk(id) ? this.files.readSync(id.toString('hex')) : undefined;
  }

  /** Staging for one incoming checkpoint: chunks put through it are safe from GC until commit/abort. */
  begin(vm: string, seq: number): Staging {
    if (this.index.exists(vm, seq)) throw new StoreError('STORE_CONFLICT', `checkpoint ${vm}/${seq} is already committed`);
    const token = randomUUID();
    try {
      this.index.beginStaging(token, this.owner, vm, seq);
    } catch (err) {
      throw asStoreError(err, `staging ${vm}/${seq}`);
    }
    return new OpenStaging(this.ctx, token, vm, seq);
  }

  /** Committed checkpoints, by vm, newest first. */
  list(vm?: string): CommittedCheckpoint[] {
    return this.index.list(vm).map(toCheckpoint);
  }

  /** That checkpoint, or (seq omitted) the newest undamaged one. */
  get(vm: string, seq?: number): CommittedCheckpoint | undefined {
    const row = this.index.get(vm, seq);
    return row && toCheckpoint(row);
  }

  /** Writes file `name` of checkpoint vm/seq to `dest`, zero chunks as holes, verifying every chunk. */
  async materialize(vm: string, seq: number, name: string, dest: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    const cp = this.get(vm, seq);
    if (!cp) throw new StoreError('STORE_NOT_FOUND', `no checkpoint ${vm}/${seq}`);
    if (cp.damaged) throw new StoreError('STORE_CHUNK_CORRUPT', `checkpoint ${vm}/${seq} is damaged (scrub found chunks it needs corrupt or missing)`);
    const file = cp.manifest.files.find((f) => f.name === name);
    if (!file) throw new StoreError('STORE_NOT_FOUND', `checkpoint ${vm}/${seq} has no file ${JSON.stringify(name)}`);
    await materializeFile(this.files, file, dest, `${vm}/${seq} ${name}`, opts.signal);
  }

  /** Keeps the newest `keep` undamaged checkpoints of vm, drops the rest, then gc(). Returns bytes freed. */
  retain(vm: string, keep: number): number {
    if (!Number.isSafeInteger(keep) || keep < 0) throw new RangeError(`keep must be a whole number ≥ 0, not ${keep}`);
    try {
      this.index.dropCheckpoints(vm, keep);
    } catch (err) {
      throw asStoreError(err, `retention of ${vm}`);
    }
    return this.gc();
  }

  /** Drops every checkpoint of vm, then gc(). Returns bytes freed. */
  drop(vm: string): number {
    return this.retain(vm, 0);
  }

  /** Deletes chunks no committed checkpoint and no open staging references. Returns bytes freed. */
  gc(): number {
    try {
      for (const token of this.abandoned) {
        this.index.endStaging(token);
        this.abandoned.delete(token);
      }
      this.index.clearStaleStagings(this.owner);
      let freed = 0;
      for (let cursor: Buffer = Buffer.alloc(0); ; ) {
        const batch = this.index.gcBatch(cursor, GC_BATCH);
        if (batch.length === 0) return freed;
        for (const c of batch) {
          if (!c.garbage || c.size === null) continue;
          this.files.remove(c.chunk.toString('hex'));
          freed += c.size;
        }
        this.index.settle(batch);
        cursor = batch[batch.length - 1]!.chunk;
      }
    } catch (err) {
      throw asStoreError(err, 'gc');
    }
  }

  /** Re-hashes every stored chunk; removes corrupt ones; marks checkpoints that need a corrupt or missing chunk damaged. */
  scrub(): Promise<ScrubReport> {
    return scrubStore(this.files, this.index);
  }

  stats(): { chunks: number; bytes: number; checkpoints: number } {
    return this.index.stats();
  }

  /** Closes the index. Open stagings are left as a crash would leave them: the next open drops them. */
  close(): void {
    this.index.close();
  }

  private async ensureRoom(bytes: number): Promise<void> {
    if (this.reserveBytes <= 0) return;
    const fs = await statfs(this.dir);
    const free = fs.bavail * fs.bsize;
    if (free - bytes < this.reserveBytes) {
      throw new StoreError('STORE_FULL', `${this.dir}: ${free} bytes free, ${this.reserveBytes} kept in reserve for the index`);
    }
  }
}
