// Assembles the controller's HTTP API: the shared server base (auth per prefix, strict
// validation, error mapping), the OpenAPI generator fed by the route schemas, and the routes,
// with the web console's (its session cookie also opens /api/v1 and /metrics).
// Services are reached through getters, so the same app can be built without them to print
// the OpenAPI document (see openapi.ts).
import swagger from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';
import { CONSOLE_HEADER, SESSION_COOKIE } from '../contracts/web-console.js';
import { API_PREFIX, INTERNAL_PREFIX } from '../contracts/controller-api.js';
import { createApiServer, requestPeer } from '../contracts/http-server.js';
import { FerryError } from '../contracts/errors.js';
import type { ServerTlsOptions } from '../pki/index.js';
import type { ClusterState } from './cluster-state.js';
import { enrolmentRoutes, isJoinPublic } from './api/enrolment.js';
import { METRICS_PATH } from '../contracts/metrics.js';
import { balanceRoutes } from './api/balance.js';
import { clusterRoutes, type ClusterDeps } from './api/cluster.js';
import { drRoutes } from './api/dr.js';
import { endpointRoutes } from './api/endpoints.js';
import { leadershipHooks, type LeadershipView } from './api/leadership.js';
import { addSharedSchemas } from './api/schemas.js';
import { metricsRoutes } from './api/metrics.js';
import { migrationRoutes } from './api/migrations.js';
import { vmRoutes } from './api/vms.js';
import type { BalanceService } from './balance/service.js';
import { consoleRoutes, isConsolePublic } from './web-console/routes.js';
import { Sessions } from './web-console/sessions.js';
import type { DrService } from './dr/service.js';
import type { EndpointService } from './endpoints/service.js';
import type { EnrolmentService } from './enrolment/service.js';
import type { PrometheusEndpoint } from './metrics/prometheus.js';
import type { MetricsService } from './metrics/service.js';
import type { MigrationService } from './migration/service.js';
import type { VmService } from './vm-service.js';

export interface AppDeps extends ClusterDeps {
  vms: VmService;
  migrations: MigrationService;
  dr: DrService;
  metrics: MetricsService;
  prometheus: PrometheusEndpoint;
  balance: BalanceService;
  endpoints: EndpointService;
  enrolment: EnrolmentService;
  state: ClusterState;
}

export interface AppOptions {
  adminToken: string;
  /** HTTPS with the controller's certificate; agents present theirs (mutual TLS) on /internal. Absent only to print the OpenAPI document. */
  https?: ServerTlsOptions;
  deps: () => AppDeps;
  /** The console's app shell (tests); default src/web-console/static/index.html of the checkout. */
  consoleShell?: string;
  /** Several controllers on one PostgreSQL: refuse changes on a standby, answer changes once durable (api/leadership.ts). */
  leadership?: LeadershipView;
}

export const OPENAPI_PATH = `${API_PREFIX}/openapi.json`;

export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  const sessions = new Sessions();
  const app = createApiServer({
    ...(opts.https ? { https: opts.https } : {}),
    credentials: [
      { prefix: `${API_PREFIX}/`, tokens: () => [opts.adminToken] },
      // Agents: a host certificate from the cluster CA whose key is still the one the host enrolled with.
      { prefix: `${INTERNAL_PREFIX}/`, peer: (p) => opts.deps().enrolment.isEnrolledHost(p) },
      { prefix: METRICS_PATH, tokens: () => [opts.adminToken] },
    ],
    isPublic: (method, path) => isConsolePublic(method, path) || isJoinPublic(method, path),
    cookieAuth: { prefixes: [`${API_PREFIX}/`, METRICS_PATH], cookie: SESSION_COOKIE, valid: (id) => sessions.valid(id), csrfHeader: CONSOLE_HEADER },
  });

  // A host speaks only for itself: whatever its body says, the heartbeat is the certificate's host's.
  app.addHook('preHandler', async (req) => {
    if (!req.url.startsWith(`${INTERNAL_PREFIX}/`)) return;
    const claimed = (req.body as { host?: { name?: unknown } } | undefined)?.host?.name;
    const peer = requestPeer(req);
    if (claimed !== undefined && claimed !== peer?.name) {
      throw new FerryError('FORBIDDEN', `this certificate is host ${String(peer?.name)}'s; it cannot speak for host ${String(claimed)}`, { field: 'body.host.name' });
    }
  });

  // Action routes take an empty JSON object; a client that sends no body at all means the same.
  app.addHook('preValidation', async (req) => {
    if (req.method === 'POST' && req.body === undefined) req.body = {};
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Ferry controller API',
        version: '1.0.0',
        description:
          'REST API of the Ferry controller, over HTTPS only (the cluster CA signs its certificate). Requests to /api/v1 need `Authorization: Bearer <admin token>`; /internal/v1 is for agents, which present their host certificate (mutual TLS); joining (/api/v1/join) takes a one-time join token in the body. The web console logs in at POST /console/login and then uses its session cookie for /api/v1 instead (requests other than GET also carry the header `x-ferry-console: 1`). Long operations answer 202 with a Task; follow it with GET /api/v1/tasks/{id} or the event stream.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
      tags: [
        { name: 'vms', description: 'Virtual machines' },
        { name: 'migrations', description: 'Live migration between hosts' },
        { name: 'metrics', description: 'Time series of VMs and hosts, and the Prometheus/OpenMetrics endpoint /metrics' },
        { name: 'balance', description: 'Load balancing by live migration: host profiles, plans with reasons, runs, auto mode, the decision log' },
        { name: 'endpoints', description: 'Service endpoints: stable addresses for guest ports that follow a VM wherever it moves; the location registry' },
        { name: 'dr', description: 'Disaster recovery: protection by continuous checkpoints to another site, failover, DR tests, failback' },
        { name: 'tasks', description: 'Long operations' },
        { name: 'hosts', description: 'Hosts (one agent each)' },
        { name: 'cluster', description: 'Status, events, this document' },
        { name: 'internal', description: 'Called by agents with their host certificate (mutual TLS)' },
        { name: 'console', description: 'Web console sessions (the console itself is served at /)' },
      ],
    },
    // Name shared schemas by their $id (Task, Vm, ...) rather than def-0, def-1.
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  });
  addSharedSchemas(app);
  if (opts.leadership) leadershipHooks(app, opts.leadership);

  vmRoutes(app, () => opts.deps().vms);
  migrationRoutes(app, () => opts.deps().migrations);
  drRoutes(app, () => opts.deps().dr);
  endpointRoutes(app, () => opts.deps().endpoints);
  metricsRoutes(app, opts.deps);
  balanceRoutes(app, () => opts.deps().balance);
  clusterRoutes(app, opts.deps);
  enrolmentRoutes(app, opts.deps);
  consoleRoutes(app, { sessions, adminToken: opts.adminToken, ...(opts.consoleShell !== undefined ? { shell: opts.consoleShell } : {}) });
  app.get(OPENAPI_PATH, { schema: { tags: ['cluster'], summary: 'This OpenAPI document' } }, async () => app.swagger());
  return app;
}
