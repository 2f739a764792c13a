// One way to reach PostgreSQL: a small pool whose every query has a timeout (pg takes no
// AbortSignal; closing the pool is how a caller gives up on all of them), BIGINT read back as a
// JS number (our counters and epoch-ms values stay far below 2^53), and the schema migrated.
import pg from 'pg';
import { createLog } from '../log.js';
import { migratePg } from './pg-schema.js';

const log = createLog('ferry:controller:pg');

export const PG_QUERY_TIMEOUT_MS = 5_000;
const CONNECT_TIMEOUT_MS = 5_000;
const INT8_OID = 20;

export async function openPool(url: string, queryTimeoutMs = PG_QUERY_TIMEOUT_MS, max = 4): Promise<pg.Pool> {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    query_timeout: queryTimeoutMs,
    idleTimeoutMillis: 30_000,
    application_name: 'ferry-controller',
    types: { getTypeParser: ((oid: number, format?: 'text' | 'binary') => (oid === INT8_OID ? Number : pg.types.getTypeParser(oid, format))) as typeof pg.types.getTypeParser },
  });
  // An idle client whose server went away errors on the pool; the next query reconnects.
  pool.on('error', (err) => log('idle connection failed: %s', err.message));
  // A connection lost while checked out with no query running is reported on the client itself;
  // unheard, that would end the process. The next query on it fails and the pool replaces it.
  pool.on('connect', (client) => client.on('error', (err) => log('connection failed: %s', err.message)));
  const client = await pool.connect();
  try {
    await migratePg(client);
  } finally {
    client.release();
  }
  return pool;
}

/** Runs `fn` in one transaction on one client; rolls back on any error. */
export async function inTransaction<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>, isolation = 'READ COMMITTED'): Promise<T> {
  const c = await pool.connect();
  let broken = false;
  try {
    await c.query(`BEGIN ISOLATION LEVEL ${isolation}`);
    const r = await fn(c);
    await c.query('COMMIT');
    return r;
  } catch (err) {
    await c.query('ROLLBACK').catch(() => {
      broken = true;
    });
    throw err;
  } finally {
    // A client whose rollback failed (timed out, connection gone) is not given back for reuse.
    c.release(broken);
  }
}

/** One query with its own timeout, shorter than the pool's (pg reads `query_timeout` per query; its types do not declare it). */
export function timedQuery<R extends pg.QueryResultRow>(pool: pg.Pool, text: string, values: unknown[], timeoutMs: number): Promise<pg.QueryResult<R>> {
  const config: pg.QueryConfig & { query_timeout: number } = { text, values, query_timeout: timeoutMs };
  return pool.query<R>(config);
}
