// Public surface of the controller: `runController` starts it (state store, services, sweep,
// HTTP API) and returns its URL and an idempotent `close`. Nothing else is imported from
// outside this folder. With SQLite (the default) it is the only controller and leads from the
// start; with PostgreSQL (`db`) it is one of several and leads only when elected (leadership.ts).
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Server as HttpsServer } from 'node:https';
import { advertisedUrl } from '../contracts/addresses.js';
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
import { ControllerTls } from './tls.js';

const log = createLog('ferry:controller');

export interface ControllerOptions {
  dataDir: string;
  /** Address to listen on. Default 127.0.0.1. */
  listenHost?: string;
  /** Default 0: any free port. */
  port?: number;
  /** The host (name or address) agents and clients dial; default the listen address (addresses.ts). */
  advertise?: string;
  adminToken: string;
  /**
   * A certificate and key of the operator's (e.g. from the organisation's CA) that browsers and
   * other clients without the cluster CA are served; agents and the CLI still get the cluster's.
   */
  publicCert?: { certPem: string; keyPem: string };
  /** Host certificates' lifetime (default one day, enrolment/service.ts); renewed by agents at two thirds. */
  hostCertLifetimeMs?: number;
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
export { initController, type InitResult } from './init.js';

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
    if (typeof pid === 'number' && pid !== process.pid && isRunning(pid)) throw new SqliteTakenError(dataDir, pid);
  } catch (err) {
    if (err instanceof SqliteTakenError) throw err;
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

interface Mode {
  current(): ControllerCore;
  leadership?: Leadership;
  /** Once the URL is known. */
  started(url: string): Promise<void>;
  close(): Promise<void>;
}

async function sqliteMode(opts: ControllerOptions, tls: ControllerTls, leaseMs: number, about: () => ControllerAbout): Promise<Mode> {
  refuseSecondOnSqlite(opts.dataDir);
  const store = openSqliteStore(opts.dataDir);
  const core = openCore(store, tls, opts, leaseMs, 'leader', about);
  return {
    current: () => core,
    started: () => core.start(),
    close: async () => {
      await core.close();
      await store.close();
    },
  };
}

async function postgresMode(opts: ControllerOptions & { db: string }, pool: Awaited<ReturnType<typeof openPool>>, tls: ControllerTls, leaseMs: number): Promise<Mode> {
  try {
    // The election has connections of its own: a long flush must never delay a lease renewal.
    const electionPool = await openPool(opts.db, PG_QUERY_TIMEOUT_MS, 1);
    const leadership = new Leadership({ data: pool, election: electionPool }, tls, opts, leaseMs);
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
  // The cluster CA: in the data dir, or shared by every controller in PostgreSQL.
  const pool = opts.db ? await openPool(opts.db) : undefined;
  let ca: KeyAndCert;
  try {
    ca = pool ? await loadOrCreateSharedCa(pool) : await loadOrCreateCa(opts.dataDir);
  } catch (err) {
    await pool?.end();
    throw err;
  }
  const tls = await ControllerTls.open(ca, opts.publicCert);
  const mode = pool
    ? await postgresMode({ ...opts, db: opts.db! }, pool, tls, leaseMs)
    : await sqliteMode(opts, tls, leaseMs, () => ({ url, role: 'leader', store: 'sqlite', leaderUrl: url, pid: process.pid }));
  const app = await buildApp({
    adminToken: opts.adminToken,
    https: tls.serverOptions(),
    deps: () => mode.current().deps,
    ...(opts.consoleShell !== undefined ? { consoleShell: opts.consoleShell } : {}),
    ...(mode.leadership ? { leadership: mode.leadership } : {}),
  });

  const listenHost = opts.listenHost ?? '127.0.0.1';
  try {
    await app.listen({ host: listenHost, port: opts.port ?? 0 });
  } catch (err) {
    await mode.close();
    await tls.close();
    throw err;
  }
  url = advertisedUrl(listenHost, (app.server.address() as AddressInfo).port, opts.advertise);
  tls.startRenewal((options) => (app.server as unknown as HttpsServer).setSecureContext(options));
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
      await tls.close();
      rmSync(infoFile, { force: true });
    })());
  return { url, close };
}
