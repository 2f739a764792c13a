// A real PostgreSQL server for tests (src/cli/local-postgres.ts starts it in a temporary
// directory), and a fresh database in it per caller, so suites never see each other's rows.
// Stop it with `stop()` in an `after` hook; if the test process dies first, the exit hook still
// stops it by its pid.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startLocalPostgres, stopLocalPostgres } from '../cli/local-postgres.js';

export interface TestPostgres {
  /** A new, empty database; its URL. */
  database(): Promise<string>;
  stop(): Promise<void>;
}

export async function startTestPostgres(): Promise<TestPostgres> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-pg-'));
  const server = await startLocalPostgres(dir, join(dir, 'postgres.log'));
  const kill = (): void => {
    try {
      process.kill(server.pid, 'SIGKILL');
    } catch {
      // gone already
    }
  };
  process.on('exit', kill);
  let n = 0;
  return {
    async database() {
      const name = `ferry_test_${process.pid}_${++n}`;
      const admin = new pg.Client({ connectionString: server.url });
      admin.on('error', () => undefined);
      await admin.connect();
      try {
        await admin.query(`CREATE DATABASE ${name}`);
      } finally {
        await admin.end();
      }
      return server.url.replace('/postgres?', `/${name}?`);
    },
    async stop() {
      process.off('exit', kill);
      await stopLocalPostgres(server.pid);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Takes leadership outright (whatever the row says) for `leaseMs`: for tests of the store without an election running. */
export async function claimTerm(pool: pg.Pool, holder: string, leaseMs = 600_000): Promise<{ term: number; holder: string }> {
  const r = await pool.query<{ term: number }>(
    `UPDATE ferry_leader SET term = term + 1, holder = $1, url = 'test', expires_at = clock_timestamp() + make_interval(secs => $2::double precision / 1000)
     WHERE id = 1 RETURNING term`,
    [holder, leaseMs],
  );
  return { term: r.rows[0]!.term, holder };
}
