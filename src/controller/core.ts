// The controller's services over one state store (index.ts serves them). A leader runs the
// start-up recovery (tasks and migrations left unfinished by whoever led before: a restarted
// controller, or a leader that died) and starts every loop; a standby builds the same services
// over its following copy only to answer reads — it recovers nothing, starts nothing and
// calls no agent. Becoming leader is always a fresh leader core: the same path a freshly
// started single controller takes.
import type { ClusterStatus, ControllerAbout } from '../contracts/controller-api.js';
import { FERRY_VERSION } from '../contracts/version.js';
import { advertisedHost } from '../contracts/addresses.js';
import { AgentPool, DEFAULT_AGENT_TIMEOUT_MS } from './agents.js';
import type { AppDeps } from './app.js';
import { BalanceRepo } from './balance/decisions-repo.js';
import { balanceGauges } from './balance/prometheus.js';
import { BalanceService } from './balance/service.js';
import { HostViews } from './cluster/host-views.js';
import { openCluster } from './cluster/index.js';
import { HA_MARGIN_MS } from './dr/ha.js';
import { leaseSource } from './dr/leases.js';
import { DrRepo } from './dr/repo.js';
import { DrService } from './dr/service.js';
import { zeroLossHold } from './dr/zero-loss.js';
import { ExposuresRepo } from './endpoints/repo.js';
import { EndpointService } from './endpoints/service.js';
import { EnrolmentService } from './enrolment/service.js';
import { NotLeaderError } from './errors.js';
import { EventBus } from './events.js';
import { HostMonitor } from './host-monitor.js';
import { MigrationStats } from './metrics/migration-stats.js';
import { PrometheusEndpoint } from './metrics/prometheus.js';
import { MetricsService } from './metrics/service.js';
import { MetricsStore } from './metrics/store.js';
import { MigrationsRepo } from './migration/migrations-repo.js';
import { MigrationService } from './migration/service.js';
import { DEFAULT_LIMITS } from './placement.js';
import { SseHub } from './sse.js';
import type { StateStore } from './store/state-store.js';
import { TaskRunner } from './task-runner.js';
import { TasksRepo } from './tasks-repo.js';
import { VmService } from './vm-service.js';
import { LoadPublisher } from './web-console/live.js';
import type { ControllerOptions } from './index.js';
import type { ControllerTls } from './tls.js';

export type CoreRole = 'leader' | 'standby';

export interface ControllerCore {
  readonly role: CoreRole;
  readonly deps: AppDeps;
  readonly bus: EventBus;
  /** Starts the loops (a leader's only). */
  start(): Promise<void>;
  /**
   * Stops everything. `deposed`: this controller no longer leads, so its agent calls are cut
   * first — its tasks end without touching any agent, and the new leader recovers them.
   */
  close(opts?: { deposed?: boolean }): Promise<void>;
}

export function openCore(store: StateStore, tls: ControllerTls, opts: ControllerOptions, leaseMs: number, role: CoreRole, about: () => ControllerAbout): ControllerCore {
  const db = store.db;
  const leader = role === 'leader';
  // Each service is built from what it needs, and only after it: dependencies point one way
  // (docs/architecture.md, "The controller's wiring"). Where two need each other, the cycle is
  // broken by an event (ClusterState.watchHosts -> HostViews) or by a narrow read built first
  // (leaseSource, from the protections alone).
  const bus = new EventBus();
  const runner = new TaskRunner(new TasksRepo(db), bus);
  if (leader) runner.recoverInterrupted();
  const { state, moves, tombstones, revisions, foreign } = openCluster(db, runner, bus);
  const metrics = new MetricsService({
    vmHost: (vm) => state.vms.get(vm)?.host,
    isHost: (host) => state.hosts.get(host) !== undefined,
    usage: (host) => state.usage(host),
    store: new MetricsStore(db),
  });
  const drRepo = new DrRepo(db);
  const enrolment = new EnrolmentService(db, tls.ca, opts.hostCertLifetimeMs);
  const monitor = new HostMonitor(state, { tombstones, moves, revisions, foreign }, opts.hostDownAfterMs ?? 3000, enrolment, leaseSource(leaseMs, drRepo, state.vms), metrics);
  const sse = new SseHub(bus);
  const fence = new AbortController();
  const agents = new AgentPool(tls, opts.agentTimeoutMs ?? DEFAULT_AGENT_TIMEOUT_MS, fence.signal);
  // A standby never calls an agent: a read that needs one (a console) is refused as NOT_LEADER, which clients follow to the leader.
  const notLeading = (): NotLeaderError => new NotLeaderError('this controller does not lead, so it calls no agent; ask the leader');
  if (!leader) fence.abort(notLeading());
  const limits = { ...DEFAULT_LIMITS, cpuOvercommit: opts.cpuOvercommit ?? DEFAULT_LIMITS.cpuOvercommit };
  const vms = new VmService(state, agents, (vm) => metrics.vmLoad(vm), limits);
  const migrationRecords = new MigrationsRepo(db);
  const migrations = new MigrationService(state, moves, agents, migrationRecords, limits, bus, (vm) => zeroLossHold(drRepo, vm));
  // Before any heartbeat is read: each settling task holds its VM, so no copy is killed on sight meanwhile.
  if (leader) migrations.settleInterrupted();
  const dr = new DrService({ state, moves, foreign, agents, repo: drRepo, bus }, {
    limits,
    ...(opts.drConcurrency !== undefined ? { concurrency: opts.drConcurrency } : {}),
    ...(opts.drTickMs !== undefined ? { tickMs: opts.drTickMs } : {}),
    ...(opts.drHeartbeatWaitMs !== undefined ? { heartbeatWaitMs: opts.drHeartbeatWaitMs } : {}),
    ha: { leaseMs, marginMs: opts.haMarginMs ?? HA_MARGIN_MS, lastLease: (host) => monitor.lastLease(host), evidence: (host) => monitor.evidence(host) },
  });
  // Service endpoints listen where the controller does and are named by its advertised host.
  const listenHost = opts.listenHost ?? '127.0.0.1';
  const address = { bind: listenHost === '::' ? '0.0.0.0' : listenHost, shown: advertisedHost(listenHost, opts.advertise) };
  const endpoints = new EndpointService({ state, moves, agents, repo: new ExposuresRepo(db), bus, address });
  const balance = new BalanceService({ state, moves, migrations, repo: new BalanceRepo(db), bus, load: metrics, drHold: (vm) => dr.balanceHold(vm) });
  const hosts = new HostViews({ state, bus, measured: (host) => metrics.hostLoad(host), isHot: (host) => balance.isHot(host) });
  const startedAt = performance.now();

  const status = (): ClusterStatus => {
    const hostList = state.hosts.list();
    const byState: Record<string, number> = {};
    for (const vm of state.vms.list()) byState[vm.state] = (byState[vm.state] ?? 0) + 1;
    return {
      version: FERRY_VERSION,
      uptimeSeconds: Math.round((performance.now() - startedAt) / 1000),
      hosts: { up: hostList.filter((h) => h.state === 'up').length, down: hostList.filter((h) => h.state !== 'up').length },
      vms: byState,
      tasksRunning: runner.runningCount(),
      controller: about(),
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
  const deps: AppDeps = { hosts, runner, monitor, sse, vms, migrations, dr, status, metrics, prometheus, balance, endpoints, enrolment, state };
  const load = new LoadPublisher(
    { listeners: () => sse.size, hosts: () => state.hosts.list().map((h) => h.info.name), vms: () => state.vms.list().map((v) => v.name), hostLoad: (h) => hosts.load(h), vmLoad: (v) => metrics.vmLoad(v) },
    (e) => bus.publish(e),
  );

  let started = false;
  let closing: Promise<void> | undefined;
  return {
    role,
    deps,
    bus,
    async start() {
      if (!leader || started) return;
      started = true;
      await endpoints.start();
      monitor.start();
      metrics.start();
      await dr.start();
      balance.start();
      load.start();
    },
    close: ({ deposed = false } = {}) =>
      (closing ??= (async () => {
        if (deposed) fence.abort(notLeading());
        monitor.stop();
        load.close();
        balance.close();
        sse.closeAll();
        if (started) await endpoints.close();
        migrations.close();
        await dr.close();
        await runner.close(deposed ? 'this controller stopped leading' : undefined);
        metrics.close();
      })()),
  };
}
