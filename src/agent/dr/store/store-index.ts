// The store's index, <root>/index.db (SQLite, WAL): which chunks exist, which checkpoints are
// committed and which chunks each one uses, and which chunks open stagings hold. It lives on
// disk so a DR host can hold far more chunks than fit in memory; every query is an index
// lookup or a bounded batch, never "load all ids". Migrations are only ever appended (as in
// src/controller/db.ts).
//
// GC queue: a trigger puts a chunk into gc_queue when its last reference (refs or staged) goes,
// so gc() visits only chunks that may have become garbage, not the whole table.
import Database from 'better-sqlite3';

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE chunks (
     id BLOB PRIMARY KEY,             -- SHA-256 of the content
     size INTEGER NOT NULL,
     created_at TEXT NOT NULL
   ) WITHOUT ROWID;
   CREATE TABLE checkpoints (
     vm TEXT NOT NULL,
     seq INTEGER NOT NULL,
     uuid TEXT NOT NULL,
     taken_at TEXT NOT NULL,
     committed_at TEXT NOT NULL,
     damaged INTEGER NOT NULL DEFAULT 0,
     manifest TEXT NOT NULL,          -- CheckpointManifest JSON
     PRIMARY KEY (vm, seq)
   );
   CREATE TABLE refs (
     vm TEXT NOT NULL,
     seq INTEGER NOT NULL,
     chunk BLOB NOT NULL,
     PRIMARY KEY (vm, seq, chunk)
   ) WITHOUT ROWID;
   CREATE INDEX refs_chunk ON refs(chunk);
   CREATE TABLE staging (
     token TEXT PRIMARY KEY,
     owner TEXT NOT NULL,             -- the ChunkStore instance that began it; others' are stale
     vm TEXT NOT NULL,
     seq INTEGER NOT NULL,
     started_at TEXT NOT NULL
   );
   CREATE TABLE staged (
     token TEXT NOT NULL,
     chunk BLOB NOT NULL,
     PRIMARY KEY (token, chunk)
   ) WITHOUT ROWID;
   CREATE INDEX staged_chunk ON staged(chunk);
   CREATE TABLE gc_queue (chunk BLOB PRIMARY KEY) WITHOUT ROWID;
   CREATE TRIGGER refs_gone AFTER DELETE ON refs
     WHEN NOT EXISTS (SELECT 1 FROM refs WHERE chunk = old.chunk)
      AND NOT EXISTS (SELECT 1 FROM staged WHERE chunk = old.chunk)
   BEGIN INSERT OR IGNORE INTO gc_queue VALUES (old.chunk); END;
   CREATE TRIGGER staged_gone AFTER DELETE ON staged
     WHEN NOT EXISTS (SELECT 1 FROM refs WHERE chunk = old.chunk)
      AND NOT EXISTS (SELECT 1 FROM staged WHERE chunk = old.chunk)
   BEGIN INSERT OR IGNORE INTO gc_queue VALUES (old.chunk); END;`,
];

export interface CheckpointRow {
  vm: string;
  seq: number;
  uuid: string;
  taken_at: string;
  committed_at: string;
  damaged: number;
  manifest: string;
}

export interface GcCandidate {
  chunk: Buffer;
  /** null: the chunk row is already gone. */
  size: number | null;
  garbage: number;
}

const now = (): string => new Date().toISOString();

export class StoreIndex {
  private readonly db: Database.Database;
  private readonly q;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
    const p = (sql: string) => this.db.prepare(sql);
    this.q = {
      chunkSize: p('SELECT size FROM chunks WHERE id = ?').pluck(),
      addChunk: p('INSERT OR IGNORE INTO chunks (id, size, created_at) VALUES (?, ?, ?)'),
      forgetChunk: p('DELETE FROM chunks WHERE id = ?'),
      pin: p('INSERT OR IGNORE INTO staged (token, chunk) VALUES (?, ?)'),
      unpin: p('DELETE FROM staged WHERE token = ? AND chunk = ?'),
      enqueue: p('INSERT OR IGNORE INTO gc_queue VALUES (?)'),
      begin: p('INSERT INTO staging (token, owner, vm, seq, started_at) VALUES (?, ?, ?, ?, ?)'),
      unstage: p('DELETE FROM staged WHERE token = ?'),
      endStaging: p('DELETE FROM staging WHERE token = ?'),
      // Also catches a pin that outlived its staging row (a put that finished after abort).
      staleStaged: p('DELETE FROM staged WHERE token NOT IN (SELECT token FROM staging WHERE owner = ?)'),
      staleStaging: p('DELETE FROM staging WHERE owner != ?'),
      exists: p('SELECT 1 FROM checkpoints WHERE vm = ? AND seq = ?').pluck(),
      insertCheckpoint: p(
        'INSERT INTO checkpoints (vm, seq, uuid, taken_at, committed_at, manifest) VALUES (@vm, @seq, @uuid, @taken_at, @committed_at, @manifest)',
      ),
      insertRef: p('INSERT OR IGNORE INTO refs (vm, seq, chunk) VALUES (?, ?, ?)'),
      listAll: p('SELECT * FROM checkpoints ORDER BY vm, seq DESC'),
      listVm: p('SELECT * FROM checkpoints WHERE vm = ? ORDER BY seq DESC'),
      getOne: p('SELECT * FROM checkpoints WHERE vm = ? AND seq = ?'),
      newest: p('SELECT * FROM checkpoints WHERE vm = ? AND damaged = 0 ORDER BY seq DESC LIMIT 1'),
      // Everything but the newest `keep` undamaged ones: a damaged point in time is never restored.
      toDrop: p(
        `SELECT seq FROM checkpoints WHERE vm = @vm AND (damaged = 1 OR seq NOT IN
           (SELECT seq FROM checkpoints WHERE vm = @vm AND damaged = 0 ORDER BY seq DESC LIMIT @keep))`,
      ).pluck(),
      dropRefs: p('DELETE FROM refs WHERE vm = ? AND seq = ?'),
      dropCheckpoint: p('DELETE FROM checkpoints WHERE vm = ? AND seq = ?'),
      gcBatch: p(
        `SELECT q.chunk AS chunk, c.size AS size,
                NOT EXISTS (SELECT 1 FROM refs r WHERE r.chunk = q.chunk)
                AND NOT EXISTS (SELECT 1 FROM staged s WHERE s.chunk = q.chunk) AS garbage
           FROM gc_queue q LEFT JOIN chunks c ON c.id = q.chunk
          WHERE q.chunk > ? ORDER BY q.chunk LIMIT ?`,
      ),
      dequeue: p('DELETE FROM gc_queue WHERE chunk = ?'),
      chunksAfter: p('SELECT id, size FROM chunks WHERE id > ? ORDER BY id LIMIT ?'),
      isKnown: p('SELECT EXISTS (SELECT 1 FROM chunks WHERE id = @id) OR EXISTS (SELECT 1 FROM staged WHERE chunk = @id)').pluck(),
      dangling: p(
        `SELECT vm, seq FROM checkpoints c WHERE EXISTS (SELECT 1 FROM refs r
           WHERE r.vm = c.vm AND r.seq = c.seq AND NOT EXISTS (SELECT 1 FROM chunks k WHERE k.id = r.chunk))`,
      ),
      markDamaged: p('UPDATE checkpoints SET damaged = 1 WHERE vm = ? AND seq = ?'),
      chunkStats: p('SELECT count(*) AS chunks, coalesce(sum(size), 0) AS bytes FROM chunks'),
      checkpointCount: p('SELECT count(*) FROM checkpoints').pluck(),
    };
  }

  private migrate(): void {
    const current = this.db.pragma('user_version', { simple: true }) as number;
    if (current > MIGRATIONS.length) throw new Error(`chunk store index version ${current} is newer than this agent understands`);
    for (let v = current; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v]!);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  chunkSize(id: Buffer): number | undefined {
    return this.q.chunkSize.get(id) as number | undefined;
  }

  /** Records a chunk whose file is in place; `token` pins it, or (staging gone) it is queued for GC. */
  addChunk(id: Buffer, size: number, pinnedBy: string | undefined): void {
    this.db.transaction(() => {
      this.q.addChunk.run(id, size, now());
      if (pinnedBy === undefined) this.q.enqueue.run(id);
    })();
  }

  forgetChunk(id: Buffer): void {
    this.q.forgetChunk.run(id);
  }

  pin(token: string, id: Buffer): void {
    this.q.pin.run(token, id);
  }

  unpin(token: string, id: Buffer): void {
    this.q.unpin.run(token, id);
  }

  beginStaging(token: string, owner: string, vm: string, seq: number): void {
    this.q.begin.run(token, owner, vm, seq, now());
  }

  endStaging(token: string): void {
    this.db.transaction(() => {
      this.q.unstage.run(token);
      this.q.endStaging.run(token);
    })();
  }

  /** Forgets stagings begun by any other (so: dead) store instance; their chunks join the GC queue. */
  clearStaleStagings(owner: string): void {
    this.db.transaction(() => {
      this.q.staleStaged.run(owner);
      this.q.staleStaging.run(owner);
    })();
  }

  exists(vm: string, seq: number): boolean {
    return this.q.exists.get(vm, seq) !== undefined;
  }

  /** One transaction, synchronous=FULL: the checkpoint, its chunk references, the staging's end. */
  commit(token: string, row: Omit<CheckpointRow, 'damaged'>, chunks: Iterable<Buffer>): void {
    this.db.pragma('synchronous = FULL');
    try {
      this.db.transaction(() => {
        this.q.insertCheckpoint.run(row);
        for (const id of chunks) this.q.insertRef.run(row.vm, row.seq, id);
        // After the refs, so the trigger queues only chunks the checkpoint did not use.
        this.q.unstage.run(token);
        this.q.endStaging.run(token);
      })();
    } finally {
      this.db.pragma('synchronous = NORMAL');
    }
  }

  list(vm?: string): CheckpointRow[] {
    return (vm === undefined ? this.q.listAll.all() : this.q.listVm.all(vm)) as CheckpointRow[];
  }

  get(vm: string, seq?: number): CheckpointRow | undefined {
    return (seq === undefined ? this.q.newest.get(vm) : this.q.getOne.get(vm, seq)) as CheckpointRow | undefined;
  }

  /** Drops vm's checkpoints but the newest `keep` undamaged ones (keep = 0: all); returns how many. */
  dropCheckpoints(vm: string, keep: number): number {
    return this.db.transaction(() => {
      const seqs = this.q.toDrop.all({ vm, keep }) as number[];
      for (const seq of seqs) {
        this.q.dropRefs.run(vm, seq);
        this.q.dropCheckpoint.run(vm, seq);
      }
      return seqs.length;
    })();
  }

  gcBatch(after: Buffer, limit: number): GcCandidate[] {
    return this.q.gcBatch.all(after, limit) as GcCandidate[];
  }

  /** Removes a batch from the queue, and the rows of those that were garbage. */
  settle(batch: GcCandidate[]): void {
    this.db.transaction(() => {
      for (const c of batch) {
        if (c.garbage) this.q.forgetChunk.run(c.chunk);
        this.q.dequeue.run(c.chunk);
      }
    })();
  }

  chunksAfter(after: Buffer, limit: number): { id: Buffer; size: number }[] {
    return this.q.chunksAfter.all(after, limit) as { id: Buffer; size: number }[];
  }

  /** True if the chunk has a row or an open staging holds it (so its file is not a stray). */
  isKnown(id: Buffer): boolean {
    return this.q.isKnown.get({ id }) === 1;
  }

  /** Marks every checkpoint that references a chunk the store no longer holds; returns them. */
  markDangling(): { vm: string; seq: number }[] {
    return this.db.transaction(() => {
      const found = this.q.dangling.all() as { vm: string; seq: number }[];
      for (const c of found) this.q.markDamaged.run(c.vm, c.seq);
      return found;
    })();
  }

  stats(): { chunks: number; bytes: number; checkpoints: number } {
    const c = this.q.chunkStats.get() as { chunks: number; bytes: number };
    return { chunks: c.chunks, bytes: c.bytes, checkpoints: this.q.checkpointCount.get() as number };
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
