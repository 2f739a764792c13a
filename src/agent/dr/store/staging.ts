// One incoming checkpoint on its way into the store. Every chunk it puts or finds already held
// is pinned (a `staged` row) so no GC can take it before the commit; the commit then turns the
// pins into the checkpoint's references in one transaction, or abort drops them.
import { StoreError, asStoreError } from './errors.js';
import { checkChunk, type ChunkFiles } from './chunk-files.js';
import { checkManifest, chunkFits, type CheckpointManifest, type CommittedCheckpoint } from './manifest.js';
import type { StoreIndex } from './store-index.js';

export interface Staging {
  readonly vm: string;
  readonly seq: number;
  /** Chunks (and their bytes) this staging added to the store: the checkpoint's new data. */
  readonly newChunks: number;
  readonly newBytes: number;
  /** Like ChunkStore.hasChunk, and a held chunk is pinned for this staging as if it had been put:
   *  answer the sender's "do you have it?" with this, so the chunk cannot vanish before commit. */
  hasChunk(id: Buffer): boolean;
  /** Verifies sha256(data) == id (else STORE_CHUNK_CORRUPT), then stores it durably unless already
   *  held. Returns true if it was new. No space → STORE_FULL, and nothing is half-written. */
  putChunk(id: Buffer, data: Buffer): Promise<boolean>;
  /** Atomic: every non-null chunk must be held (else STORE_INCOMPLETE); the chunk files'
   *  directory entries are fsync'd; then ONE transaction inserts the checkpoint and its chunk
   *  references. Only then do list()/get() show it. An existing (vm, seq) → STORE_CONFLICT. */
  commit(manifest: CheckpointManifest): CommittedCheckpoint;
  /** Forgets the staging (its new chunks become garbage for gc). Idempotent; never throws. */
  abort(): void;
}

/** What a staging needs of its store. */
export interface StagingContext {
  files: ChunkFiles;
  index: StoreIndex;
  /** Writes in progress by chunk hex id, so two puts of one chunk write it once. */
  inflight: Map<string, Promise<void>>;
  /** Throws STORE_FULL unless `bytes` more fit above the reserve kept for the index. */
  ensureRoom(bytes: number): Promise<void>;
  /** A staging whose end could not be recorded (disk full): the store retries at its next gc. */
  abandon(token: string): void;
}

export class OpenStaging implements Staging {
  newChunks = 0;
  newBytes = 0;
  private state: 'open' | 'committed' | 'aborted' = 'open';

  constructor(
    private readonly ctx: StagingContext,
    private readonly token: string,
    readonly vm: string,
    readonly seq: number,
  ) {}

  hasChunk(id: Buffer): boolean {
    this.checkOpen();
    if (this.ctx.index.chunkSize(id) === undefined) return false;
    this.pin(id);
    return true;
  }

  async putChunk(id: Buffer, data: Buffer): Promise<boolean> {
    this.checkOpen();
    checkChunk(id, data, 'on arrival');
    const hex = id.toString('hex');
    for (;;) {
      if (this.hasChunk(id)) return false;
      const pending = this.ctx.inflight.get(hex);
      if (!pending) break;
      // Another put is writing this very chunk: wait for it, then look again.
      await pending.catch(() => undefined);
      this.checkOpen();
    }
    const write = this.writeNew(id, hex, data);
    this.ctx.inflight.set(hex, write);
    try {
      await write;
    } finally {
      this.ctx.inflight.delete(hex);
    }
    this.newChunks++;
    this.newBytes += data.length;
    return true;
  }

  private async writeNew(id: Buffer, hex: string, data: Buffer): Promise<void> {
    await this.ctx.ensureRoom(data.length);
    this.pin(id);
    let placed = false;
    try {
      await this.ctx.files.write(hex, data);
      placed = true;
      // Aborted meanwhile: the row goes straight to the GC queue instead of being pinned.
      this.ctx.index.addChunk(id, data.length, this.state === 'open' ? this.token : undefined);
    } catch (err) {
      // No row names this chunk (checked above, and `inflight` keeps other puts out): drop the file.
      if (placed) this.ctx.files.remove(hex);
      try {
        this.ctx.index.unpin(this.token, id);
      } catch {
        // The index is full too: the pin goes when the staging does.
      }
      throw asStoreError(err, `chunk ${hex}`);
    }
  }

  commit(manifest: CheckpointManifest): CommittedCheckpoint {
    this.checkOpen();
    const { index, files } = this.ctx;
    checkManifest(manifest, this.vm, this.seq);
    if (index.exists(this.vm, this.seq)) throw new StoreError('STORE_CONFLICT', `checkpoint ${this.vm}/${this.seq} is already committed`);
    // Sizes from the index, once per distinct chunk; then every position is checked against them.
    const sizes = new Map<string, number | undefined>();
    for (const file of manifest.files) for (const hex of file.chunks) if (hex !== null && !sizes.has(hex)) sizes.set(hex, index.chunkSize(Buffer.from(hex, 'hex')));
    const missing = [...sizes].filter(([, size]) => size === undefined).map(([hex]) => hex);
    if (missing.length > 0) {
      throw new StoreError('STORE_INCOMPLETE', `checkpoint ${this.vm}/${this.seq}: ${missing.length} of ${sizes.size} chunks are not held (first: ${missing[0]})`);
    }
    for (const file of manifest.files) {
      file.chunks.forEach((hex, i) => {
        if (hex !== null && !chunkFits(file, i, sizes.get(hex)!)) {
          throw new StoreError('STORE_BAD_MANIFEST', `file ${file.name}: chunk ${i} (${hex}) holds ${sizes.get(hex)} bytes, which do not fit there`);
        }
      });
    }
    // Every chunk file was fsync'd before its rename; now make the renames durable, so the
    // committed index never names a file a power loss could take back.
    files.syncDirty();
    const committedAt = new Date().toISOString();
    const row = { vm: this.vm, seq: this.seq, uuid: manifest.uuid, taken_at: manifest.takenAt, committed_at: committedAt, manifest: JSON.stringify(manifest) };
    try {
      index.commit(this.token, row, [...sizes.keys()].map((hex) => Buffer.from(hex, 'hex')));
    } catch (err) {
      throw asStoreError(err, `commit of ${this.vm}/${this.seq}`);
    }
    this.state = 'committed';
    return { vm: this.vm, uuid: manifest.uuid, seq: this.seq, takenAt: manifest.takenAt, committedAt, damaged: false, manifest };
  }

  abort(): void {
    if (this.state !== 'open') return;
    this.state = 'aborted';
    try {
      this.ctx.index.endStaging(this.token);
    } catch {
      this.ctx.abandon(this.token);
    }
  }

  private pin(id: Buffer): void {
    try {
      this.ctx.index.pin(this.token, id);
    } catch (err) {
      throw asStoreError(err, `staging ${this.vm}/${this.seq}`);
    }
  }

  private checkOpen(): void {
    if (this.state !== 'open') throw new Error(`staging of ${this.vm}/${this.seq} is ${this.state}`);
  }
}
