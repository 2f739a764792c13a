// A standby's copy of the tables: loaded from PostgreSQL, then kept current by polling the
// change log the leader writes with every batch (pg-store.ts), applied in order. The standby's
// API reads from this copy; `onApplied` hears every batch (the standby's event stream is made
// from it). A standby that fell behind what the log keeps reloads everything.
import type pg from 'pg';
import type { Db } from '../db.js';
import { createLog } from '../log.js';
import { applyChanges, putRows, type Change, type TableShape } from './capture.js';
import { loadCopy, readAll } from './pg-store.js';

const log = createLog('ferry:controller:follower');

export const FOLLOW_EVERY_MS = 200;
const BATCH = 5_000;

export class PgFollower {
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private pulling: Promise<void> | undefined;

  private constructor(
    readonly db: Db,
    private readonly shapes: readonly TableShape[],
    private readonly pool: pg.Pool,
    private lastSeq: number,
    private readonly onApplied: (changes: readonly Change[]) => void,
  ) {}

  static async open(pool: pg.Pool, onApplied: (changes: readonly Change[]) => void): Promise<PgFollower> {
    const { db, shapes, lastSeq } = await loadCopy(pool);
    const f = new PgFollower(db, shapes, pool, lastSeq, onApplied);
    f.schedule();
    return f;
  }

  /** The change-log position this copy has applied. */
  get position(): number {
    return this.lastSeq;
  }

  /** Applies everything committed so far (tests; the timer does it otherwise). */
  catchUp(): Promise<void> {
    return (this.pulling ??= this.pull().finally(() => {
      this.pulling = undefined;
    }));
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.pulling?.catch(() => undefined);
    this.db.close();
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      void this.catchUp()
        .catch((err: Error) => log('following the change log failed: %s', err.message))
        .finally(() => this.schedule());
    }, FOLLOW_EVERY_MS);
  }

  private async pull(): Promise<void> {
    for (;;) {
      if (this.closed) return;
      const r = await this.pool.query<{ seq: number; tbl: string; op: 'upsert' | 'delete'; pk: unknown[]; row: Change['row'] | null }>(
        'SELECT seq, tbl, op, pk, row FROM ferry_changes WHERE seq > $1 ORDER BY seq LIMIT $2',
        [this.lastSeq, BATCH],
      );
      if (this.closed || r.rows.length === 0) return;
      if (r.rows[0]!.seq > this.lastSeq + 1 && (await this.prunedPast())) return this.reload();
      const changes = r.rows.map((x): Change => ({ tbl: x.tbl, op: x.op, pk: x.pk, ...(x.row ? { row: x.row } : {}) }));
      applyChanges(this.db, this.shapes, changes);
      this.lastSeq = r.rows.at(-1)!.seq;
      this.onApplied(changes);
      if (r.rows.length < BATCH) return;
    }
  }

  /** Has the log been pruned beyond what this copy applied (not merely a sequence gap of a rolled-back batch)? */
  private async prunedPast(): Promise<boolean> {
    const r = await this.pool.query<{ min: number | null }>('SELECT min(seq) AS min FROM ferry_changes');
    const min = r.rows[0]?.min;
    return this.lastSeq > 0 && min !== null && min !== undefined && min > this.lastSeq + 1;
  }

  private async reload(): Promise<void> {
    log('fell behind the change log (at %d); reloading every table', this.lastSeq);
    const { tables, lastSeq } = await readAll(this.pool, this.shapes);
    if (this.closed) return;
    this.db.transaction(() => {
      for (const s of this.shapes) {
        this.db.prepare(`DELETE FROM "${s.name}"`).run();
        putRows(this.db, s, tables.get(s.name) ?? []);
      }
    })();
    this.lastSeq = lastSeq;
    this.onApplied([]);
  }
}
