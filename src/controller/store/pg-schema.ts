// The controller's tables on PostgreSQL: numbered migrations recorded in ferry_schema, each
// only ever appended. PG_MIGRATIONS[0] holds what exists only on PostgreSQL — the leadership row
// (leader election, election.ts) and the change log standbys follow (follower.ts); each later one
// mirrors MIGRATIONS[i-1] of src/controller/db.ts column for column (same names, TEXT stays TEXT),
// because the controller works on an SQLite copy of these tables (pg-store.ts) and writes rows
// through unchanged. UNIQUE constraints other than primary keys are left to that copy: a batch
// of coalesced changes may hold a row's new owner of a name before its old owner's delete.
import type pg from 'pg';

export const PG_MIGRATIONS: readonly string[] = [
  `CREATE TABLE ferry_leader (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     -- The fencing token: +1 at every election. UNIQUE makes it a key column, so an election (which
     -- changes it) waits for a flush holding FOR KEY SHARE, while a renewal (which does not) never does.
     term BIGINT NOT NULL UNIQUE,
     holder TEXT,                             -- the leading controller's instance id
     url TEXT,                                -- where it serves
     expires_at TIMESTAMPTZ NOT NULL          -- database time; a standby may take over after it
   );
   INSERT INTO ferry_leader (id, term, holder, url, expires_at) VALUES (1, 0, NULL, NULL, '-infinity');
   CREATE TABLE ferry_changes (
     seq BIGSERIAL PRIMARY KEY,
     term BIGINT NOT NULL,
     tbl TEXT NOT NULL,
     op TEXT NOT NULL,                        -- 'upsert' | 'delete'
     pk JSONB NOT NULL,                       -- primary key values, in key order
     row JSONB                                -- the whole row, for upserts
   );
   CREATE TABLE ferry_ca (                    -- the cluster CA every controller issues host certificates from (shared-ca.ts)
     id INTEGER PRIMARY KEY CHECK (id = 1),
     key_pem TEXT NOT NULL,
     cert_pem TEXT NOT NULL
   );`,
  `CREATE TABLE hosts (
     name TEXT PRIMARY KEY, site TEXT NOT NULL, state TEXT NOT NULL, url TEXT NOT NULL, info TEXT NOT NULL,
     last_seen TEXT NOT NULL, registered_at TEXT NOT NULL
   );
   CREATE TABLE vms (
     uuid TEXT PRIMARY KEY, name TEXT NOT NULL, host TEXT NOT NULL, site TEXT NOT NULL, state TEXT NOT NULL,
     spec TEXT NOT NULL, metrics TEXT, endpoints TEXT NOT NULL, error TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
   );
   CREATE TABLE tasks (
     seq BIGINT PRIMARY KEY, id TEXT NOT NULL, kind TEXT NOT NULL, target TEXT NOT NULL, state TEXT NOT NULL,
     progress DOUBLE PRECISION NOT NULL, message TEXT NOT NULL, error TEXT, result TEXT, created_at TEXT NOT NULL,
     started_at TEXT, finished_at TEXT
   );`,
  `CREATE TABLE migrations (seq BIGINT PRIMARY KEY, id TEXT NOT NULL, vm TEXT NOT NULL, record TEXT NOT NULL);
   ALTER TABLE hosts ADD COLUMN csr TEXT;
   ALTER TABLE hosts ADD COLUMN certificate TEXT;`,
  `CREATE TABLE dr_protections (vm TEXT PRIMARY KEY, record TEXT NOT NULL, meta TEXT NOT NULL);
   CREATE TABLE dr_checkpoints (seq BIGINT PRIMARY KEY, vm TEXT NOT NULL, checkpoint BIGINT NOT NULL, record TEXT NOT NULL);
   CREATE TABLE dr_reports (seq BIGINT PRIMARY KEY, id TEXT NOT NULL, vm TEXT NOT NULL, record TEXT NOT NULL);`,
  `CREATE TABLE balance_config (id INTEGER PRIMARY KEY CHECK (id = 1), record TEXT NOT NULL);
   CREATE TABLE balance_decisions (id BIGINT PRIMARY KEY, at TEXT NOT NULL, vm TEXT, record TEXT NOT NULL);`,
  `CREATE TABLE metric_points (
     kind TEXT NOT NULL, name TEXT NOT NULL, step_ms BIGINT NOT NULL, t BIGINT NOT NULL, point TEXT NOT NULL,
     PRIMARY KEY (kind, name, step_ms, t)
   );`,
  `CREATE TABLE exposures (
     vm TEXT NOT NULL, guest_port BIGINT NOT NULL, listen_port BIGINT NOT NULL, created_at TEXT NOT NULL,
     PRIMARY KEY (vm, guest_port)
   );`,
  `CREATE TABLE join_tokens (hash TEXT PRIMARY KEY, created_at TEXT NOT NULL, expires_at TEXT NOT NULL, used_at TEXT, used_by TEXT);
   CREATE TABLE enrolments (name TEXT PRIMARY KEY, key_sha256 TEXT NOT NULL, serial TEXT NOT NULL, not_after TEXT NOT NULL, enrolled_at TEXT NOT NULL);`,
];

export const PG_SCHEMA_VERSION = PG_MIGRATIONS.length;

/** Several controllers may start at once: one migrates, under a transaction-scoped advisory lock, the others then find it done. */
const MIGRATION_LOCK = 0x66657279; // "fery"

export async function migratePg(client: pg.ClientBase): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query('CREATE TABLE IF NOT EXISTS ferry_schema (version INTEGER NOT NULL)');
    const r = await client.query<{ version: number }>('SELECT version FROM ferry_schema');
    const current = r.rows[0]?.version ?? 0;
    if (r.rows.length === 0) await client.query('INSERT INTO ferry_schema (version) VALUES (0)');
    if (current > PG_MIGRATIONS.length) {
      throw new Error(`database schema version ${current} is newer than this controller understands (${PG_MIGRATIONS.length})`);
    }
    for (let v = current; v < PG_MIGRATIONS.length; v++) {
      await client.query(PG_MIGRATIONS[v]!);
      await client.query('UPDATE ferry_schema SET version = $1', [v + 1]);
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
