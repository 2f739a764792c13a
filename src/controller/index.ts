// Public surface of the controller: `runController` starts it (database, services, sweep,
// HTTP API) and returns its URL and an idempotent `close`. Nothing else is imported from
// outside this folder.
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterStatus } from '../contracts/controller-api.js';
import { FERRY_VERSION } from '../contracts/version.js';
import { AgentPool, DEFAULT_AGENT_TIMEOUT_MS } from './agents.js';
import { buildApp, type AppDeps } from './app.js';
import { LoadPublisher } from './web-console/live.js';
import { loadOrCreateCa } from './ca.js';
import { openCluster } from './cluster/index.js';
import { HostViews } from './cluster/host-views.js';
import { openDb } from './db.js';
import { BalanceRepo } from './balance/decisions-repo.js';
import { balanceGauges } from './balance/prometheus.js';
import { BalanceService } from './balance/service.js';
import { HA_LEASE_MS, HA_MARGIN_MS } from './dr/ha.js';
import { leaseSource } from './dr/leases.js';
import { DrRepo } from './dr/repo.js';
import { DrService } from './dr/service.js';
import { zeroLossHold } from './dr/zero-loss.js';
import { EventBus } from './events.js';
import { ExposuresRepo } from './endpoints/repo.js';
import { EndpointService } from './endpoints/service.js';
import { HostMonitor } from './host-monitor.js';
import { MigrationsRepo } from './migration/migrations-repo.js';
import { MigrationService } from './migration/service.js';
import { createLog } from './log.js';
import { MigrationStats } from './metrics/migration-stats.js';
import { PrometheusEndpoint } from './metrics/prometheus.js';
import { MetricsService } from './metrics/service.js';
import { MetricsStore } from './metrics/store.js';
import { DEFAULT_LIMITS } from './placement.js';
import { SseHub } from './sse.js';
import { TaskRunner } from './task-runner.js';
import { TasksRepo } from './tasks-repo.js';
import { VmService } from './vm-service.js';

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
}

export interface RunningController {
  url: string;
  close(): Promise<void>;
}

export const CONTROLLER_FILE = 'controller.json';

export async function runController(opts: ControllerOptions): Promise<RunningController> {
  mkdirSync(opts.dataDir, { recursive: true });
  const leaseMs = opts.haLeaseMs ?? HA_LEASE_MS;
  if (!Number.isInteger(leaseMs) || leaseMs < 1000) throw new Error(`haLeaseMs must be a whole number of ms, at least 1000 (not ${leaseMs})`);
  const ca = await loadOrCreateCa(opts.dataDir);
  const db = openDb(join(opts.dataDir, 'ferry.db'));
  // Each service is built from what it needs, and only after it: dependencies point one way
  // (docs/architecture.md, "The controller's wiring"). Where two need each other, the cycle is
  // broken by an event (ClusterState.watchHosts -> HostViews) or by a narrow read built first
  // (leaseSource, from the protections alone).
  const bus = new EventBus();
  const runner = new TaskRunner(new TasksRepo(db), bus);
  runner.recoverInterrupted();
  const { state, moves, tombstones, revisions, foreign } = openCluster(db, runner, bus);
  const metrics = new MetricsService({
    vmHost: (vm) => state.vms.get(vm)?.host,
    isHost: (host) => state.hosts.get(host) !== undefined,
    usage: (host) => state.usage(host),
    store: new MetricsStore(db),
  });
  const drRepo = new DrRepo(db);
  const monitor = new HostMonitor(state, { tombstones, moves, revisions, foreign }, opts.hostDownAfterMs ?? 3000, ca, leaseSource(leaseMs, drRepo, state.vms), metrics);
  const sse = new SseHub(bus);
  const agents = new AgentPool(opts.clusterSecret, opts.agentTimeoutMs ?? DEFAULT_AGENT_TIMEOUT_MS);
  const limits = { ...DEFAULT_LIMITS, cpuOvercommit: opts.cpuOvercommit ?? DEFAULT_LIMITS.cpuOvercommit };
  const vms = new VmService(state, agents, (vm) => metrics.vmLoad(vm), limits);
  const migrationRecords = new MigrationsRepo(db);
  const migrations = new MigrationService(state, moves, agents, migrationRecords, limits, bus, (vm) => zeroLossHold(drRepo, vm));
  // Before any heartbeat is read: each settling task holds its VM, so no copy is killed on sight meanwhile.
  migrations.settleInterrupted();
  const dr = new DrService({ state, moves, foreign, agents, repo: drRepo, bus }, {
    limits,
    ...(opts.drConcurrency !== undefined ? { concurrency: opts.drConcurrency } : {}),
    ...(opts.drTickMs !== undefined ? { tickMs: opts.drTickMs } : {}),
    ...(opts.drHeartbeatWaitMs !== undefined ? { heartbeatWaitMs: opts.drHeartbeatWaitMs } : {}),
    ha: { leaseMs, marginMs: opts.haMarginMs ?? HA_MARGIN_MS, lastLease: (host) => monitor.lastLease(host), evidence: (host) => monitor.evidence(host) },
  });
  const endpoints = new EndpointService({ state, moves, agents, repo: new ExposuresRepo(db), bus });
  const balance = new BalanceService({ state, moves, migrations, repo: new BalanceRepo(db), bus, load: metrics, drHold: (vm) => dr.balanceHold(vm) });
  const hosts = new HostViews({ state, bus, measured: (host) => metrics.hostLoad(host), isHot: (host) => balance.isHot(host) });
  const version = FERRY_VERSION;
  const startedAt = performance.now();

  const status = (): ClusterStatus => {
    const hostList = state.hosts.list();
    const byState: Record<string, number> = {};
    for (const vm of state.vms.list()) byState[vm.state] = (byState[vm.state] ?? 0) + 1;
    return {
      version,
      uptimeSeconds: Math.round((performance.now() - startedAt) / 1000),
      hosts: { up: hostList.filter((h) => h.state === 'up').length, down: hostList.filter((h) => h.state !== 'up').length },
      vms: byState,
      tasksRunning: runner.runningCount(),
    };
  };
  const prometheus = new PrometheusEndpoint({
    hosts: () => hosts.list(),
    vms: () => state.vms.list(),
    metrics,
    migrations: new MigrationStats(db),
    protections: () => dr.list(),
    tasksRunning: () => runner.runningCount(),
    more: [balanceGauges(balance)],
  });
  const deps: AppDeps = { hosts, runner, monitor, sse, vms, migrations, dr, status, metrics, prometheus, balance, endpoints };
  const app = await buildApp({
    adminToken: opts.adminToken,
    clusterSecret: opts.clusterSecret,
    deps: () => deps,
    ...(opts.consoleShell !== undefined ? { consoleShell: opts.consoleShell } : {}),
  });
  const load = new LoadPublisher(
    { listeners: () => sse.size, hosts: () => state.hosts.list().map((h) => h.info.name), vms: () => state.vms.list().map((v) => v.name), hostLoad: (h) => hosts.load(h), vmLoad: (v) => metrics.vmLoad(v) },
    (e) => bus.publish(e),
  );

  let address: string;
  try {
    address = await app.listen({ host: opts.listenHost ?? '127.0.0.1', port: opts.port ?? 0 });
  } catch (err) {
    db.close();
    throw err;
  }
  await endpoints.start();
  monitor.start();
  metrics.start();
  dr.start();
  balance.start();
  load.start();
  const url = address.replace('[::1]', '127.0.0.1');
  const infoFile = join(opts.dataDir, CONTROLLER_FILE);
  // Written then renamed, so `ferry up` polling for it never reads half a file.
  writeFileSync(`${infoFile}.tmp`, `${JSON.stringify({ pid: process.pid, url }, null, 2)}\n`);
  renameSync(`${infoFile}.tmp`, infoFile);
  log('listening on %s (data in %s)', url, opts.dataDir);

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      log('closing');
      monitor.stop();
      load.close();
      balance.close();
      sse.closeAll();
      await endpoints.close();
      migrations.close();
      await dr.close();
      await runner.close();
      await app.close();
      metrics.close();
      db.close();
      rmSync(infoFile, { force: true });
    })());
  return { url, close };
}
