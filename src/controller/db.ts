// The controller's SQLite database (<dataDir>/ferry.db): WAL so API reads never wait on the
// heartbeat writes, and numbered migrations recorded in `PRAGMA user_version`. A migration is
// only ever appended, never edited: a database at version N has run exactly MIGRATIONS[0..N).
import Database from 'better-sqlite3';

export type Db = Database.Database;

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE hosts (
     name TEXT PRIMARY KEY,
     site TEXT NOT NULL,
     state TEXT NOT NULL,
     url TEXT NOT NULL,
     info TEXT NOT NULL,            -- HostInfo JSON, as the agent last reported it
     last_seen TEXT NOT NULL,
     registered_at TEXT NOT NULL
   );
   CREATE TABLE vms (
     uuid TEXT PRIMARY KEY,
     name TEXT NOT NULL UNIQUE,
     host TEXT NOT NULL,
     site TEXT NOT NULL,
     state TEXT NOT NULL,
     spec TEXT NOT NULL,            -- VmSpec JSON
     metrics TEXT,                  -- VmMetrics JSON
     endpoints TEXT NOT NULL,       -- Endpoint[] JSON
     error TEXT,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL
   );
   CREATE INDEX vms_host ON vms(host);
   CREATE TABLE tasks (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- creation order, for "newest first"
     id TEXT NOT NULL UNIQUE,
     kind TEXT NOT NULL,
     target TEXT NOT NULL,
     state TEXT NOT NULL,
     progress REAL NOT NULL,
     message TEXT NOT NULL,
     error TEXT,                    -- {code, message} JSON
     result TEXT,                   -- JSON
     created_at TEXT NOT NULL,
     started_at TEXT,
     finished_at TEXT
   );
   CREATE INDEX tasks_state ON tasks(state);`,
  // Live migration records, and each host's data-plane certificate with the CSR it answers.
  `CREATE TABLE migrations (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- creation order, for "newest first"
     id TEXT NOT NULL UNIQUE,
     vm TEXT NOT NULL,
     record TEXT NOT NULL                    -- MigrationRecord JSON
   );
   CREATE INDEX migrations_vm ON migrations(vm);
   ALTER TABLE hosts ADD COLUMN csr TEXT;
   ALTER TABLE hosts ADD COLUMN certificate TEXT;`,
  // Disaster recovery (src/contracts/dr.ts): protections, the records of committed checkpoints, and
  // the reports of failovers, DR tests and failbacks (kept as evidence).
  `CREATE TABLE dr_protections (
     vm TEXT PRIMARY KEY,
     record TEXT NOT NULL,                   -- Protection JSON (ageMs is computed at read, never stored)
     meta TEXT NOT NULL                      -- controller-only JSON: where failback returns, since when syncing
   );
   CREATE TABLE dr_checkpoints (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- creation order, for "newest first"
     vm TEXT NOT NULL,
     checkpoint INTEGER NOT NULL,            -- the checkpoint's own seq (per VM)
     record TEXT NOT NULL                    -- CheckpointRecord JSON
   );
   CREATE INDEX dr_checkpoints_vm ON dr_checkpoints(vm, checkpoint);
   CREATE TABLE dr_reports (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL UNIQUE,
     vm TEXT NOT NULL,
     record TEXT NOT NULL                    -- FailoverReport JSON
   );
   CREATE INDEX dr_reports_vm ON dr_reports(vm);`,
  // Load balancing (src/contracts/balance.ts): the config (one row) and the log of decisions.
  `CREATE TABLE balance_config (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     record TEXT NOT NULL                    -- BalanceConfig JSON
   );
   CREATE TABLE balance_decisions (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     at TEXT NOT NULL,
     vm TEXT,
     record TEXT NOT NULL                    -- BalanceDecision JSON (without id)
   );
   CREATE INDEX balance_decisions_vm ON balance_decisions(vm);`,
  // Monitoring (src/contracts/metrics.ts): the closed buckets of the 10 s and 5 min tiers, so history
  // survives a restart (raw samples live in memory only). Pruned by each tier's retention.
  `CREATE TABLE metric_points (
     kind TEXT NOT NULL,                     -- 'vm' | 'host'
     name TEXT NOT NULL,
     step_ms INTEGER NOT NULL,               -- the tier's step
     t INTEGER NOT NULL,                     -- bucket start, epoch ms
     point TEXT NOT NULL,                    -- VmPoint or HostPoint JSON
     PRIMARY KEY (kind, name, step_ms, t)
   ) WITHOUT ROWID;
   CREATE INDEX metric_points_age ON metric_points(step_ms, t);`,
  // Service endpoints (src/contracts/endpoints.ts): each exposed guest port of a VM and the loopback
  // port its listener keeps across controller restarts.
  `CREATE TABLE exposures (
     vm TEXT NOT NULL,
     guest_port INTEGER NOT NULL,
     listen_port INTEGER NOT NULL UNIQUE,
     created_at TEXT NOT NULL,
     PRIMARY KEY (vm, guest_port)
   );`,
  // Joining (src/controller/enrolment/): one-time join tokens (only their hash is kept) and the
  // hosts enrolled with them, each bound to its key; a removed host's row is gone, which revokes it.
  `CREATE TABLE join_tokens (
     hash TEXT PRIMARY KEY,          -- sha256 of the secret part, hex
     created_at TEXT NOT NULL,
     expires_at TEXT NOT NULL,
     used_at TEXT,
     used_by TEXT                    -- the host that enrolled with it
   );
   CREATE TABLE enrolments (
     name TEXT PRIMARY KEY,
     key_sha256 TEXT NOT NULL,       -- the host's public key (SPKI), hex: it changes only by a new join
     serial TEXT NOT NULL,           -- of the newest certificate issued
     not_after TEXT NOT NULL,
     enrolled_at TEXT NOT NULL
   );`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export function openDb(path: string): Db {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  migrate(db);
  return db;
}

export function migrate(db: Db): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new Error(`database schema version ${current} is newer than this controller understands (${MIGRATIONS.length})`);
  }
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
