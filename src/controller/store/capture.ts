// The SQLite working copy's side of the PostgreSQL backend. The repositories keep their
// synchronous SQL on an in-memory SQLite database that holds every table; triggers note each
// changed primary key in _ferry_changes (in the same statement, so nothing is missed) and call
// back so a flush is scheduled. pendingChanges() turns the notes into the rows to write — one
// per key, its latest state, deletes first (so a name freed and taken in one batch never
// collides) — and followers apply the same changes to their own copy with applyChanges().
import type Database from 'better-sqlite3';
import type { Db } from '../db.js';

export interface TableShape {
  name: string;
  columns: string[];
  /** Primary key columns, in key order. */
  pk: string[];
}

export type Row = Record<string, unknown>;

export interface Change {
  tbl: string;
  op: 'upsert' | 'delete';
  pk: unknown[];
  /** The whole row, for an upsert. */
  row?: Row;
}

const LOG = '_ferry_changes';

// Statements are prepared once per database and SQL text: a flush reads thousands of rows.
type Statement = Database.Statement<unknown[]>;
const prepared = new WeakMap<Db, Map<string, Statement>>();
function stmt(db: Db, sql: string): Statement {
  let m = prepared.get(db);
  if (!m) prepared.set(db, (m = new Map()));
  let st = m.get(sql);
  if (!st) m.set(sql, (st = db.prepare<unknown[]>(sql)));
  return st;
}
const ident = (s: string): string => `"${s.replaceAll('"', '""')}"`;

/** Every table of the controller's schema, as SQLite knows it. */
export function tableShapes(db: Db): TableShape[] {
  const names = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> ? ORDER BY name`).pluck().all(LOG) as string[];
  return names.map((name) => {
    const info = db.prepare(`SELECT name, pk FROM pragma_table_info(?) ORDER BY cid`).all(name) as { name: string; pk: number }[];
    return {
      name,
      columns: info.map((c) => c.name),
      pk: info.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => c.name),
    };
  });
}

/** Starts noting every change of every table; `onChange` runs (synchronously, inside the write) after each. */
export function installCapture(db: Db, shapes: readonly TableShape[], onChange: () => void): void {
  db.exec(`CREATE TABLE IF NOT EXISTS ${LOG} (id INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT NULL, op TEXT NOT NULL, pk TEXT NOT NULL)`);
  db.function('ferry_changed', { deterministic: false }, () => {
    onChange();
    return null;
  });
  for (const t of shapes) {
    const key = (side: 'NEW' | 'OLD'): string => `json_array(${t.pk.map((c) => `${side}.${ident(c)}`).join(', ')})`;
    const note = (op: string, side: 'NEW' | 'OLD'): string => `INSERT INTO ${LOG} (tbl, op, pk) VALUES ('${t.name}', '${op}', ${key(side)}); SELECT ferry_changed();`;
    db.exec(`
      CREATE TRIGGER ${ident(`_cap_${t.name}_i`)} AFTER INSERT ON ${ident(t.name)} BEGIN ${note('upsert', 'NEW')} END;
      CREATE TRIGGER ${ident(`_cap_${t.name}_u`)} AFTER UPDATE ON ${ident(t.name)} BEGIN
        INSERT INTO ${LOG} (tbl, op, pk) SELECT '${t.name}', 'delete', ${key('OLD')} WHERE ${key('OLD')} IS NOT ${key('NEW')};
        ${note('upsert', 'NEW')}
      END;
      CREATE TRIGGER ${ident(`_cap_${t.name}_d`)} AFTER DELETE ON ${ident(t.name)} BEGIN ${note('delete', 'OLD')} END;`);
  }
}

/** The id of the newest change noted (0 when none). */
export function lastChangeId(db: Db): number {
  return (stmt(db, `SELECT coalesce(max(id), 0) AS n FROM ${LOG}`).get() as { n: number }).n;
}

/** Notes read per flush: a bounded batch keeps each flush's synchronous part short (the event loop also renews the leader's lease). */
export const NOTES_PER_BATCH = 4_000;

/** The oldest changes noted (at most `limit` notes), coalesced to one per key with the row as it is now. */
export function pendingChanges(db: Db, shapes: readonly TableShape[], limit = NOTES_PER_BATCH): { upTo: number; changes: Change[] } {
  const notes = stmt(db, `SELECT id, tbl, op, pk FROM ${LOG} ORDER BY id LIMIT ?`).all(limit) as { id: number; tbl: string; op: 'upsert' | 'delete'; pk: string }[];
  const latest = new Map<string, { tbl: string; op: 'upsert' | 'delete'; pk: string }>();
  for (const n of notes) {
    const k = `${n.tbl}\0${n.pk}`;
    latest.delete(k); // keep the map in order of each key's last change
    latest.set(k, n);
  }
  const byName = new Map(shapes.map((s) => [s.name, s]));
  const deletes: Change[] = [];
  const upserts: Change[] = [];
  for (const n of latest.values()) {
    const shape = byName.get(n.tbl);
    if (!shape) continue;
    const pk = JSON.parse(n.pk) as unknown[];
    const row = n.op === 'upsert' ? readRow(db, shape, pk) : undefined;
    if (row) upserts.push({ tbl: n.tbl, op: 'upsert', pk, row });
    else deletes.push({ tbl: n.tbl, op: 'delete', pk });
  }
  return { upTo: notes.at(-1)?.id ?? 0, changes: [...deletes, ...upserts] };
}

/** Drops the notes a committed flush covered. */
export function forgetChanges(db: Db, upTo: number): void {
  stmt(db, `DELETE FROM ${LOG} WHERE id <= ?`).run(upTo);
}

function readRow(db: Db, shape: TableShape, pk: unknown[]): Row | undefined {
  const where = shape.pk.map((c) => `${ident(c)} = ?`).join(' AND ');
  return stmt(db, `SELECT * FROM ${ident(shape.name)} WHERE ${where}`).get(...pk) as Row | undefined;
}

/** Writes rows as they are (loading a copy, or following the leader); a row with a taken key or unique value replaces it. */
export function putRows(db: Db, shape: TableShape, rows: readonly Row[]): void {
  const cols = shape.columns.map(ident).join(', ');
  const put = stmt(db, `INSERT OR REPLACE INTO ${ident(shape.name)} (${cols}) VALUES (${shape.columns.map(() => '?').join(', ')})`);
  for (const r of rows) put.run(...shape.columns.map((c) => sqliteValue(r[c])));
}

/** Applies a leader's changes, in order, in one transaction. */
export function applyChanges(db: Db, shapes: readonly TableShape[], changes: readonly Change[]): void {
  const byName = new Map(shapes.map((s) => [s.name, s]));
  db.transaction(() => {
    for (const c of changes) {
      const shape = byName.get(c.tbl);
      if (!shape) continue;
      if (c.op === 'upsert' && c.row) putRows(db, shape, [c.row]);
      else stmt(db, `DELETE FROM ${ident(shape.name)} WHERE ${shape.pk.map((k) => `${ident(k)} = ?`).join(' AND ')}`).run(...c.pk.map(sqliteValue));
    }
  })();
}

// JSONB gives numbers and strings back as they went in; booleans never occur in our tables.
function sqliteValue(v: unknown): unknown {
  return v === undefined ? null : v;
}
