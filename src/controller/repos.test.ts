import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import type { HostInfo } from '../contracts/agent-api.js';
import type { Task, Vm } from '../contracts/controller-api.js';
import type { Protection } from '../contracts/dr.js';
import type { FailureCode } from '../contracts/errors.js';
import type { MigrationRecord } from '../contracts/migration.js';
import { withDefaults, type VmMetrics } from '../contracts/vm-spec.js';
import { claimTerm, startTestPostgres, type TestPostgres } from '../testing/postgres.js';
import { DEFAULT_CONFIG } from './balance/config.js';
import { BalanceRepo } from './balance/decisions-repo.js';
import { openDb, SCHEMA_VERSION, type Db } from './db.js';
import { DrRepo } from './dr/repo.js';
import { ExposuresRepo } from './endpoints/repo.js';
import { HostsRepo } from './hosts-repo.js';
import { MetricsStore } from './metrics/store.js';
import { MigrationsRepo } from './migration/migrations-repo.js';
import { tableShapes } from './store/capture.js';
import { openPool } from './store/pg-pool.js';
import { PG_SCHEMA_VERSION } from './store/pg-schema.js';
import { loadCopy, PgLeaderStore } from './store/pg-store.js';
import { openSqliteStore, SQLITE_FILE, type StateStore } from './store/state-store.js';
import { TasksRepo } from './tasks-repo.js';
import { VmsRepo } from './vms-repo.js';

const info = (name: string): HostInfo => ({ name, site: 'main', url: 'http://127.0.0.1:1', cpus: 2, memoryMiB: 4096, accel: 'tcg', qemuVersion: '10.0', agentVersion: '0.1', pid: 1, loadAvg1: 0, memoryFreeMiB: 1000 });
const vm = (name: string, uuid: string): Vm => {
  const spec = withDefaults({ name, memoryMiB: 128 }, uuid);
  return { name, uuid, state: 'stopped', host: 'h1', site: 'main', memoryMiB: 128, vcpus: 1, workload: 'idle', spec, endpoints: [], createdAt: 't0', updatedAt: 't0' };
};
const task = (id: string, state: Task['state'] = 'queued'): Task => ({ id, kind: 'vm.start', target: 'vm/a', state, progress: 0, message: 'queued', createdAt: 't0' });
const protection = (name: string): Protection => ({
  vm: name, uuid: 'u', fromSite: 'main', toSite: 'dr', targetHost: 'h3', rpoMs: 60_000, keep: 3, state: 'syncing', checkpoints: 0, bytesSent: 0, createdAt: 't0', updatedAt: 't0',
});

const migration: MigrationRecord = {
  id: 'm1', vm: 'a', from: 'h1', to: 'h2', strategy: 'precopy', transport: 'passthrough', outcome: 'running', step: 'activation', rounds: 3, dirtyRateBytesPerSec: 0,
  predictedDowntimeMs: 20, predictedTotalMs: 900, downtimeMs: 42, totalMs: 1500, memoryBytes: 1, streamBytes: 1, wireBytes: 1, switchedToPostcopy: false, startedAt: 't0',
};

/** Every row of every table, as a fresh reader of the backend sees it. */
function dump(db: Db): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const s of tableShapes(db)) out[s.name] = db.prepare(`SELECT * FROM "${s.name}" ORDER BY ${s.pk.map((k) => `"${k}"`).join(', ')}`).all();
  return out;
}

interface Backend {
  name: string;
  open(): Promise<StateStore>;
  /** A second reader of what the store made durable. */
  reread(): Promise<Db>;
  close(): Promise<void>;
}

function sqliteBackend(): Backend {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-repos-'));
  return {
    name: 'SQLite',
    open: async () => openSqliteStore(dir),
    reread: async () => openDb(join(dir, SQLITE_FILE)),
    close: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

function postgresBackend(): Backend {
  let server: TestPostgres | undefined;
  let pool: pg.Pool | undefined;
  return {
    name: 'PostgreSQL',
    async open() {
      server = await startTestPostgres();
      pool = await openPool(await server.database());
      const term = await claimTerm(pool, 'repos-test');
      return PgLeaderStore.open(pool, term, (err) => assert.fail(`deposed: ${err.message}`));
    },
    reread: async () => (await loadCopy(pool!)).db,
    async close() {
      await pool?.end();
      await server?.stop();
    },
  };
}

for (const backend of [sqliteBackend(), postgresBackend()]) {
  describe(`repositories on ${backend.name}`, () => {
    let store: StateStore;
    let db: Db;
    before(async () => {
      store = await backend.open();
      db = store.db;
    });
    after(async () => {
      await store?.close();
      await backend.close();
    });

    it('migrates to the current schema version', async () => {
      assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
      const again = await backend.reread();
      assert.equal(again.pragma('user_version', { simple: true }), SCHEMA_VERSION);
      again.close();
    });
    it('hosts: upsert keeps the registration time, setState changes state', () => {
      const hosts = new HostsRepo(db);
      hosts.upsert({ info: info('h1'), state: 'up', lastSeen: 't1', registeredAt: 't1' });
      hosts.upsert({ info: { ...info('h1'), loadAvg1: 2 }, state: 'up', lastSeen: 't2', registeredAt: 't2' });
      hosts.setState('h1', 'down');
      const h = hosts.get('h1')!;
      assert.equal(h.state, 'down');
      assert.equal(h.lastSeen, 't2');
      assert.equal(h.registeredAt, 't1');
      assert.equal(h.info.loadAvg1, 2);
      assert.equal(hosts.list().length, 1);
      assert.equal(hosts.get('nope'), undefined);
    });

    it('vms: insert, unique names, patch, clear an error, remove', () => {
      const vms = new VmsRepo(db);
      vms.insert(vm('a', '00000000-0000-4000-8000-000000000001'));
      assert.throws(() => vms.insert(vm('a', '00000000-0000-4000-8000-000000000002')), /UNIQUE/);
      const r = vms.update('a', { state: 'running', error: 'oops', endpoints: [{ guestPort: 80, host: '127.0.0.1', port: 8080 }] }, 't1')!;
      assert.equal(r.before.state, 'stopped');
      assert.equal(r.after.state, 'running');
      assert.deepEqual(vms.get('a'), r.after);
      vms.update('a', { error: undefined });
      assert.equal('error' in vms.get('a')!, false);
      assert.equal(vms.get('a')!.endpoints[0]?.port, 8080);
      assert.equal(vms.update('zz', { state: 'running' }), undefined);
      assert.equal(vms.remove('a'), true);
      assert.equal(vms.remove('a'), false);
    });

    it('vms: live metrics are shown but never written; a metrics-only heartbeat leaves the row alone', () => {
      const vms = new VmsRepo(db);
      vms.insert(vm('m', '00000000-0000-4000-8000-000000000003'));
      const stored = () => db.prepare('SELECT metrics, updated_at FROM vms WHERE name = ?').get('m') as { metrics: string | null; updated_at: string };
      const before = stored();
      const metrics: VmMetrics = { cpuSeconds: 1.5, rssBytes: 4096, diskReadBytes: 0, diskWriteBytes: 512, diskReadOps: 0, diskWriteOps: 1 };
      const r = vms.update('m', { metrics }, 't9')!;
      assert.deepEqual(r.after.metrics, metrics);
      assert.deepEqual(vms.get('m')!.metrics, metrics);
      assert.deepEqual(vms.list().find((x) => x.name === 'm')!.metrics, metrics);
      assert.deepEqual(stored(), before, 'no write for readings alone');
      vms.update('m', { state: 'running', metrics }, 't10');
      assert.deepEqual(stored(), { metrics: null, updated_at: 't10' }, 'a state change is written, without the readings');
      vms.remove('m');
      vms.insert(vm('m', '00000000-0000-4000-8000-000000000003'));
      assert.equal(vms.get('m')!.metrics, undefined, 'a removed VM\'s readings go with it');
    });

    it('vms: reads come from the parsed rows; a change under the repo (a standby applying the leader\'s) shows after invalidate()', () => {
      const vms = new VmsRepo(db);
      vms.insert(vm('c2', '00000000-0000-4000-8000-000000000005'));
      vms.insert(vm('c1', '00000000-0000-4000-8000-000000000004'));
      assert.deepEqual(vms.list().filter((x) => x.name.startsWith('c')).map((x) => x.name), ['c1', 'c2'], 'in name order, as the table is read');
      const copy = vms.get('c1')!;
      copy.state = 'crashed';
      assert.equal(vms.get('c1')!.state, 'stopped', 'a caller\'s change to its copy changes nothing');
      db.prepare(`UPDATE vms SET state = 'running' WHERE name = 'c1'`).run();
      assert.equal(vms.get('c1')!.state, 'stopped', 'written under the repo: not seen yet');
      vms.invalidate();
      assert.equal(vms.get('c1')!.state, 'running');
      vms.remove('c1');
      vms.remove('c2');
      assert.equal(vms.get('c1'), undefined);
    });

    it('tasks: newest first, and unfinished ones fail after a restart', () => {
      const tasks = new TasksRepo(db);
      tasks.insert(task('t1', 'succeeded'));
      tasks.insert(task('t2', 'running'));
      tasks.insert(task('t3', 'queued'));
      tasks.update({ ...task('t1', 'succeeded'), progress: 100, result: { x: 1 }, error: undefined });
      assert.deepEqual(tasks.list(10).map((t) => t.id), ['t3', 't2', 't1']);
      assert.deepEqual(tasks.list(1).map((t) => t.id), ['t3']);
      assert.deepEqual(tasks.get('t1')!.result, { x: 1 });
      const failed = tasks.failUnfinished('controller restarted', 't9');
      assert.deepEqual(failed.map((t) => t.id).sort(), ['t2', 't3']);
      const t2 = tasks.get('t2')!;
      assert.equal(t2.state, 'failed');
      assert.equal(t2.error?.message, 'controller restarted');
      assert.equal(t2.finishedAt, 't9');
      assert.equal(tasks.get('t1')!.state, 'succeeded');
    });

    it('tasks: a failure code an older controller stored verbatim reads back as one of ours', () => {
      const tasks = new TasksRepo(db);
      tasks.insert({ ...task('t-old', 'failed'), error: { code: 'WIRE_BROKEN' as FailureCode, message: 'peer closed' } });
      tasks.insert({ ...task('t-new', 'failed'), error: { code: 'WIRE_CONNECTION_LOST', message: 'peer closed' } });
      assert.deepEqual(tasks.get('t-old')!.error, { code: 'INTERNAL', message: 'peer closed' });
      assert.deepEqual(tasks.get('t-new')!.error, { code: 'WIRE_CONNECTION_LOST', message: 'peer closed' });
    });

    it('DR, migrations, exposures, balance and metrics keep what was written', () => {
      const dr = new DrRepo(db);
      dr.insert(protection('a'), { syncingSince: 't0' });
      dr.update('a', (r) => ({ ...r, protection: { ...r.protection, state: 'protected', checkpoints: 1 } }), 't1');
      dr.addCheckpoint({ vm: 'a', seq: 1, host: 'h3', takenAt: 't1', committedAt: 't1', pauseMs: 1, durationMs: 5, memoryBytes: 1, diskBytes: 0, wireBytes: 1, newBytes: 1 });
      assert.equal(dr.lastSeq('a'), 1);
      assert.equal(dr.get('a')!.protection.state, 'protected');
      const migrations = new MigrationsRepo(db);
      migrations.save({ ...migration, outcome: 'running' });
      migrations.save({ ...migration, outcome: 'succeeded' });
      assert.deepEqual(migrations.list('a').map((m) => m.outcome), ['succeeded']);
      const exposures = new ExposuresRepo(db);
      exposures.insert({ vm: 'a', guestPort: 80, listenPort: 20080, createdAt: 't0' });
      exposures.remove('a', 80);
      exposures.insert({ vm: 'b', guestPort: 80, listenPort: 20080, createdAt: 't1' }); // the freed port taken in the same batch
      const balance = new BalanceRepo(db);
      balance.saveConfig(DEFAULT_CONFIG);
      assert.equal(balance.append({ at: 't0', trigger: 'auto', kind: 'skipped', reason: 'quiet' }).id, 1);
      new MetricsStore(db).write([{ kind: 'vm', name: 'a', stepMs: 10_000, point: { t: 1000 } }]);
    });

    it('a fresh reader of the backend sees every table exactly as written, once flushed', async () => {
      await store.flushed();
      const fresh = await backend.reread();
      try {
        assert.deepEqual(dump(fresh), dump(db));
        assert.equal(dump(fresh).exposures?.length, 1);
      } finally {
        fresh.close();
      }
    });
  });
}

describe('the PostgreSQL schema', () => {
  it('has, for every table of the SQLite schema, the same columns and primary key, at the version it names', async () => {
    const server = await startTestPostgres();
    try {
      const pool = await openPool(await server.database());
      try {
        const sqlite = openDb(':memory:');
        for (const s of tableShapes(sqlite)) {
          const cols = await pool.query<{ column_name: string }>(
            'SELECT column_name FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position',
            [s.name],
          );
          assert.deepEqual(cols.rows.map((r) => r.column_name), s.columns, `columns of ${s.name}`);
          const pk = await pool.query<{ attname: string }>(
            `SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
             WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)`,
            [s.name],
          );
          assert.deepEqual(pk.rows.map((r) => r.attname), s.pk, `primary key of ${s.name}`);
        }
        sqlite.close();
        const v = await pool.query<{ version: number }>('SELECT version FROM ferry_schema');
        assert.equal(v.rows[0]?.version, PG_SCHEMA_VERSION);
      } finally {
        await pool.end();
      }
    } finally {
      await server.stop();
    }
  });
});
