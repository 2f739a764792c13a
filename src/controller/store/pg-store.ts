// The PostgreSQL backend of the state store, on the leader (state-store.ts says why the
// repositories work on an SQLite copy). Writes land in the copy at once and are noted
// (capture.ts); one flush at a time carries them to PostgreSQL in order, each batch in one
// transaction that, last before COMMIT, locks the leadership row and checks it still names this
// leader's term and holder with a lease not yet expired — the fencing token: once another controller has
// been elected, this one's late writes are refused (NotLeaderError) and the store stays failed.
// Each batch also goes to ferry_changes, which standbys follow (follower.ts). A flush that fails
// for any other reason (PostgreSQL slow, restarting) is retried with the same and newer changes;
// nothing is dropped and nothing is applied out of order.
import Database from 'better-sqlite3';
import type pg from 'pg';
import { migrate, type Db } from '../db.js';
import { NotLeaderError } from '../errors.js';
import { createLog } from '../log.js';
import { forgetChanges, installCapture, lastChangeId, pendingChanges, putRows, tableShapes, type Change, type Row, type TableShape } from './capture.js';
import { inTransaction } from './pg-pool.js';
import type { StateStore } from './state-store.js';

const log = createLog('ferry:controller:pg-store');

const RETRY_MS = 250;
const ROWS_PER_STATEMENT = 500;
/** Change-log rows kept for standbys; one further behind reloads everything (follower.ts). */
export const CHANGES_KEPT = 50_000;
const PRUNE_EVERY_FLUSHES = 100;
const CLOSE_FLUSH_MS = 5_000;

export interface Term {
  term: number;
  holder: string;
}

const ident = (s: string): string => `"${s.replaceAll('"', '""')}"`;

/** A fresh in-memory copy of every table, read in one snapshot; `lastSeq` is the change log's head in that snapshot. */
export async function loadCopy(pool: pg.Pool): Promise<{ db: Db; shapes: TableShape[]; lastSeq: number }> {
  const db = new Database(':memory:');
  migrate(db);
  const shapes = tableShapes(db);
  const { tables, lastSeq } = await readAll(pool, shapes);
  db.transaction(() => {
    for (const s of shapes) putRows(db, s, tables.get(s.name) ?? []);
  })();
  return { db, shapes, lastSeq };
}

/** Every row of every table, and the change log's head, from one REPEATABLE READ snapshot. */
export async function readAll(pool: pg.Pool, shapes: readonly TableShape[]): Promise<{ tables: Map<string, Row[]>; lastSeq: number }> {
  return inTransaction(
    pool,
    async (c) => {
      const head = await c.query<{ seq: number }>('SELECT coalesce(max(seq), 0) AS seq FROM ferry_changes');
      const tables = new Map<string, Row[]>();
      for (const s of shapes) tables.set(s.name, (await c.query<Row>(`SELECT ${s.columns.map(ident).join(', ')} FROM ${ident(s.name)}`)).rows);
      return { tables, lastSeq: head.rows[0]!.seq };
    },
    'REPEATABLE READ',
  );
}

interface Waiter {
  upTo: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

export class PgLeaderStore implements StateStore {
  readonly kind = 'postgres';
  private durable = 0;
  private flushes = 0;
  private waiters: Waiter[] = [];
  private running: Promise<void> | undefined;
  private retry: NodeJS.Timeout | undefined;
  private failure: Error | undefined;
  private closing: Promise<void> | undefined;

  private constructor(
    readonly db: Db,
    private readonly shapes: readonly TableShape[],
    private readonly pool: pg.Pool,
    private readonly term: Term,
    private readonly onDeposed: (err: NotLeaderError) => void,
  ) {
    installCapture(db, shapes, () => this.kick());
  }

  /** Loads the tables for a leader elected with `term`; `onDeposed` is told once if PostgreSQL refuses its writes. */
  static async open(pool: pg.Pool, term: Term, onDeposed: (err: NotLeaderError) => void): Promise<PgLeaderStore> {
    const { db, shapes } = await loadCopy(pool);
    return new PgLeaderStore(db, shapes, pool, term, onDeposed);
  }

  flushed(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const upTo = lastChangeId(this.db);
    if (upTo <= this.durable) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiters.push({ upTo, resolve, reject });
      this.kick();
    });
  }

  close(): Promise<void> {
    return (this.closing ??= (async () => {
      await Promise.race([this.flushed().catch(() => undefined), new Promise((r) => setTimeout(r, CLOSE_FLUSH_MS).unref())]);
      this.fail(new NotLeaderError('the controller is shutting down'));
      await this.running;
      this.db.close();
    })());
  }

  private kick(): void {
    if (this.running || this.retry || this.failure) return;
    this.running = new Promise<void>((r) => setImmediate(r))
      .then(() => this.drain())
      .finally(() => {
        this.running = undefined;
      });
  }

  private async drain(): Promise<void> {
    while (!this.failure) {
      const { upTo, changes } = pendingChanges(this.db, this.shapes);
      if (upTo <= this.durable) return;
      try {
        await this.commit(changes);
      } catch (err) {
        if (err instanceof NotLeaderError) {
          this.onDeposed(err);
          this.fail(err);
          return;
        }
        log('flush of %d changes failed, retrying: %s', changes.length, (err as Error).message);
        this.retry = setTimeout(() => {
          this.retry = undefined;
          this.kick();
        }, RETRY_MS);
        return;
      }
      if (this.failure) return; // closed meanwhile: the copy is gone
      forgetChanges(this.db, upTo);
      this.durable = upTo;
      this.waiters = this.waiters.filter((w) => (w.upTo <= upTo ? (w.resolve(), false) : true));
    }
  }

  private fail(err: Error): void {
    this.failure ??= err;
    clearTimeout(this.retry);
    for (const w of this.waiters) w.reject(this.failure);
    this.waiters = [];
  }

  private async commit(changes: readonly Change[]): Promise<void> {
    const { term, holder } = this.term;
    await inTransaction(this.pool, async (c) => {
      const byName = new Map(this.shapes.map((s) => [s.name, s]));
      for (const ch of changes.filter((x) => x.op === 'delete')) {
        const s = byName.get(ch.tbl)!;
        await c.query(`DELETE FROM ${ident(s.name)} WHERE ${s.pk.map((k, i) => `${ident(k)} = $${i + 1}`).join(' AND ')}`, ch.pk);
      }
      for (const s of this.shapes) {
        const rows = changes.filter((x) => x.op === 'upsert' && x.tbl === s.name).map((x) => x.row!);
        for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) await upsert(c, s, rows.slice(i, i + ROWS_PER_STATEMENT));
      }
      await c.query(
        `INSERT INTO ferry_changes (term, tbl, op, pk, row)
         SELECT $1, tbl, op, pk, row FROM unnest($2::text[], $3::text[], $4::jsonb[], $5::jsonb[]) AS u(tbl, op, pk, row)`,
        [term, changes.map((x) => x.tbl), changes.map((x) => x.op), changes.map((x) => JSON.stringify(x.pk)), changes.map((x) => (x.row ? JSON.stringify(x.row) : null))],
      );
      if (++this.flushes % PRUNE_EVERY_FLUSHES === 0) {
        await c.query('DELETE FROM ferry_changes WHERE seq <= (SELECT max(seq) FROM ferry_changes) - $1', [CHANGES_KEPT]);
      }
      // The fencing check comes last and holds a KEY SHARE lock on the leadership row until COMMIT:
      // an election (it changes `term`, a key column) either happened before it (refused, everything
      // rolls back) or waits for the commit (and the new leader's copy holds these rows). A renewal
      // changes no key column, so a slow commit never holds it up.
      const held = await c.query(
        'SELECT 1 FROM ferry_leader WHERE id = 1 AND term = $1 AND holder = $2 AND expires_at > clock_timestamp() FOR KEY SHARE',
        [term, holder],
      );
      if (held.rowCount !== 1) throw new NotLeaderError(`term ${term} is over: another controller leads or may lead, so this one's writes are refused`);
    });
  }
}

async function upsert(c: pg.ClientBase, s: TableShape, rows: readonly Row[]): Promise<void> {
  if (rows.length === 0) return;
  const n = s.columns.length;
  const values = rows.map((_, r) => `(${s.columns.map((_c, i) => `$${r * n + i + 1}`).join(', ')})`).join(', ');
  const rest = s.columns.filter((col) => !s.pk.includes(col));
  await c.query(
    `INSERT INTO ${ident(s.name)} (${s.columns.map(ident).join(', ')}) VALUES ${values}
     ON CONFLICT (${s.pk.map(ident).join(', ')}) DO UPDATE SET ${rest.map((col) => `${ident(col)} = EXCLUDED.${ident(col)}`).join(', ')}`,
    rows.flatMap((row) => s.columns.map((col) => row[col] ?? null)),
  );
}
