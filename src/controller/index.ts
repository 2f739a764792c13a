// Public surface of the controller: `runController` starts it (state store, services, sweep,
// HTTP API) and returns its URL and an idempotent `close`. Nothing else is imported from
// outside this folder. With SQLite (the default) it is the only controller and leads from the
// start; with PostgreSQL (`db`) it is one of several and leads only when elected (leadership.ts).
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
// A SIGKILLed controller may linger as a zombie until reaped: isAlive counts that as gone.
import { isAlive } from '../cli/process.js';
import type { ControllerAbout } from '../contracts/controller-api.js';
import type { KeyAndCert } from '../pki/index.js';
import { buildApp } from './app.js';
import { loadOrCreateCa } from './ca.js';
import { openCore, type ControllerCore } from './core.js';
import { HA_LEASE_MS } from './dr/ha.js';
import { Leadership } from './leadership.js';
import { createLog } from './log.js';
import { openPool, PG_QUERY_TIMEOUT_MS } from './store/pg-pool.js';
import { loadOrCreateSharedCa } from './store/shared-ca.js';
import { openSqliteStore } from './store/state-store.js';

const log = createLog('ferry:controller');

export interface ControllerOptions {
  dataDir: string;
  /** Default 127.0.0.1. */
  listenHost?: string;
  /** Default 0: any free port. */
  port?: number;
  adminToken: string;
  clusterSecret: string;
  /** A host silent this long is marked down (default 3000). */
  hostDownAfterMs?: number;
  /** Limit on one agent call (default 120000). */
  agentTimeoutMs?: number;
  /** vCPUs placed per host CPU at most (default 4). */
  cpuOvercommit?: number;
  /** Checkpoints running at once in the whole cluster (default 4). */
  drConcurrency?: number;
  /** How often the replication scheduler looks at the protections (default 500 ms). */
  drTickMs?: number;
  /** How long a failover waits for the restored guest's first heartbeat (default 30000). */
  drHeartbeatWaitMs?: number;
  /** High availability: the lease each heartbeat reply grants on the host's protected VMs (default 5000, at least 1000). */
  haLeaseMs?: number;
  /** High availability: waited beyond a silent host's lease before its VMs are failed over (default 6000). */
  haMarginMs?: number;
  /** The web console's app shell (tests); default src/web-console/static/index.html of the checkout. */
  consoleShell?: string;
  /**
   * A PostgreSQL URL: keep the state there and run as one of several controllers sharing it, one
   * leading (leadership.ts). Default: SQLite in dataDir, and this controller alone.
   */
  db?: string;
  /** With `db`: the leader's lease on PostgreSQL (default 2000 ms, store/election.ts). */
  leaderLeaseMs?: number;
}

export interface RunningController {
  url: string;
  close(): Promise<void>;
}

export const CONTROLLER_FILE = 'controller.json';

/** SQLite is one file that one controller owns: refuse a second one on the same data directory. */
export class SqliteTakenError extends Error {
  constructor(dataDir: string, pid: number) {
    super(
      `another controller (pid ${pid}) already runs on the SQLite database in ${dataDir}. SQLite serves exactly one controller: ` +
        'several would each act as the leader on their own copy of the truth. To run several controllers, keep the state in PostgreSQL (--db postgres://...)',
    );
    this.name = 'SqliteTakenError';
  }
}

function refuseSecondOnSqlite(dataDir: string): void {
  const file = join(dataDir, CONTROLLER_FILE);
  if (!existsSync(file)) return;
  try {
    const { pid } = JSON.parse(readFileSync(file, 'utf8')) as { pid?: number };
    if (typeof pid === 'number' && pid !== process.pid && isAlive(pid)) throw new SqliteTakenError(dataDir, pid);
  } catch (err) {
    if (err instanceof SqliteTakenError) throw err;
  }
}

interface Mode {
  current(): ControllerCore;
  leadership?: Leadership;
  /** Once the URL is known. */
  started(url: string): Promise<void>;
  close(): Promise<void>;
}

async function sqliteMode(opts: ControllerOptions, ca: KeyAndCert, leaseMs: number, about: () => ControllerAbout): Promise<Mode> {
  refuseSecondOnSqlite(opts.dataDir);
  const store = openSqliteStore(opts.dataDir);
  const core = openCore(store, ca, opts, leaseMs, 'leader', about);
  return {
    current: () => core,
    started: () => core.start(),
    close: async () => {
      await core.close();
      await store.close();
    },
  };
}

async function postgresMode(opts: ControllerOptions & { db: string }, leaseMs: number): Promise<Mode> {
  const pool = await openPool(opts.db);
  try {
    const ca = await loadOrCreateSharedCa(pool);
    // The election has connections of its own: a long flush must never delay a lease renewal.
    const electionPool = await openPool(opts.db, PG_QUERY_TIMEOUT_MS, 1);
    const leadership = new Leadership({ data: pool, election: electionPool }, ca, opts, leaseMs);
    await leadership.open();
    return {
      current: () => leadership.current(),
      leadership,
      started: async (url) => leadership.startElection(url),
      close: async () => {
        await leadership.close();
        await pool.end();
        await electionPool.end();
      },
    };
  } catch (err) {
    await pool.end();
    throw err;
  }
}

export async function runController(opts: ControllerOptions): Promise<RunningController> {
  mkdirSync(opts.dataDir, { recursive: true });
  const leaseMs = opts.haLeaseMs ?? HA_LEASE_MS;
  if (!Number.isInteger(leaseMs) || leaseMs < 1000) throw new Error(`haLeaseMs must be a whole number of ms, at least 1000 (not ${leaseMs})`);
  let url = '';
  const mode = opts.db
    ? await postgresMode({ ...opts, db: opts.db }, leaseMs)
    : await sqliteMode(opts, await loadOrCreateCa(opts.dataDir), leaseMs, () => ({ url, role: 'leader', store: 'sqlite', leaderUrl: url, pid: process.pid }));
  const app = await buildApp({
    adminToken: opts.adminToken,
    clusterSecret: opts.clusterSecret,
    deps: () => mode.current().deps,
    ...(opts.consoleShell !== undefined ? { consoleShell: opts.consoleShell } : {}),
    ...(mode.leadership ? { leadership: mode.leadership } : {}),
  });

  let address: string;
  try {
    address = await app.listen({ host: opts.listenHost ?? '127.0.0.1', port: opts.port ?? 0 });
  } catch (err) {
    await mode.close();
    throw err;
  }
  url = address.replace('[::1]', '127.0.0.1');
  await mode.started(url);
  const infoFile = join(opts.dataDir, CONTROLLER_FILE);
  // Written then renamed, so `ferry up` polling for it never reads half a file.
  writeFileSync(`${infoFile}.tmp`, `${JSON.stringify({ pid: process.pid, url }, null, 2)}\n`);
  renameSync(`${infoFile}.tmp`, infoFile);
  log('listening on %s (%s)', url, opts.db ? 'state in PostgreSQL' : `data in ${opts.dataDir}`);

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      log('closing');
      await mode.close();
      await app.close();
      rmSync(infoFile, { force: true });
    })());
  return { url, close };
}
