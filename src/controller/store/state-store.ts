// The controller's state store: one interface, two backends. Either way the repositories run
// their synchronous SQL on `db` (better-sqlite3), so nothing above them changes:
// - SQLite (the default): `db` is the file <dataDir>/ferry.db itself; a write is durable when
//   the statement returns, so `flushed()` has nothing to wait for.
// - PostgreSQL (pg-store.ts): `db` is the leader's in-memory working copy, loaded from
//   PostgreSQL when it became leader; its changes reach PostgreSQL in order, asynchronously, each
//   batch in a transaction that checks this leader's term (a deposed leader's writes are refused).
//   `flushed()` resolves once every write made before the call is committed there.
// A mutating API request waits for `flushed()` before it answers (app.ts); a heartbeat never does
// (issue 14: an agent's lease must not depend on the database answering).
import { join } from 'node:path';
import { openDb, type Db } from '../db.js';

export type StoreKind = 'sqlite' | 'postgres';

export interface StateStore {
  readonly kind: StoreKind;
  /** The tables, for the repositories. */
  readonly db: Db;
  /** Resolves when every write made so far is durable; rejects if it never can be (this leader was deposed). */
  flushed(): Promise<void>;
  /** Flushes what it can, then releases the database. Idempotent. */
  close(): Promise<void>;
}

export const SQLITE_FILE = 'ferry.db';

export function openSqliteStore(dataDir: string): StateStore {
  const db = openDb(join(dataDir, SQLITE_FILE));
  let closed = false;
  return {
    kind: 'sqlite',
    db,
    flushed: () => Promise.resolve(),
    close: async () => {
      if (closed) return;
      closed = true;
      db.close();
    },
  };
}
