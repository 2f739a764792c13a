// Assembles the controller's HTTP API: the shared server base (auth per prefix, strict
// validation, error mapping), the OpenAPI generator fed by the route schemas, and the routes,
// with the web console's (its session cookie also opens /api/v1 and /metrics).
// Services are reached through getters, so the same app can be built without them to print
// the OpenAPI document (see openapi.ts).
import swagger from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';
import { CONSOLE_HEADER, SESSION_COOKIE } from '../contracts/web-console.js';
import { API_PREFIX, INTERNAL_PREFIX } from '../contracts/controller-api.js';
import { createApiServer } from '../contracts/http-server.js';
import { METRICS_PATH } from '../contracts/metrics.js';
import { balanceRoutes } from './api/balance.js';
import { clusterRoutes, type ClusterDeps } from './api/cluster.js';
import { drRoutes } from './api/dr.js';
import { endpointRoutes } from './api/endpoints.js';
import { imageRoutes } from './api/images.js';
import { serveConsoleAttach } from './console-attach.js';
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
import type { PrometheusEndpoint } from './metrics/prometheus.js';
import type { MetricsService } from './metrics/service.js';
import type { MigrationService } from './migration/service.js';
import type { VmService } from './vm-service.js';
import type { ImageService } from './images/service.js';

export interface AppDeps extends ClusterDeps {
  vms: VmService;
  migrations: MigrationService;
  dr: DrService;
  metrics: MetricsService;
  prometheus: PrometheusEndpoint;
  balance: BalanceService;
  endpoints: EndpointService;
  images: ImageService;
}

export interface AppOptions {
  adminToken: string;
  clusterSecret: string;
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
    credentials: [
      { prefix: `${API_PREFIX}/`, tokens: () => [opts.adminToken] },
      { prefix: `${INTERNAL_PREFIX}/`, tokens: () => [opts.clusterSecret] },
      { prefix: METRICS_PATH, tokens: () => [opts.adminToken] },
    ],
    isPublic: isConsolePublic,
    cookieAuth: { prefixes: [`${API_PREFIX}/`, METRICS_PATH], cookie: SESSION_COOKIE, valid: (id) => sessions.valid(id), csrfHeader: CONSOLE_HEADER },
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
          'REST API of the Ferry controller. Every request needs `Authorization: Bearer <token>`: the admin token for /api/v1, the cluster secret for /internal/v1. The web console logs in at POST /console/login and then uses its session cookie for /api/v1 instead (requests other than GET also carry the header `x-ferry-console: 1`). Long operations answer 202 with a Task; follow it with GET /api/v1/tasks/{id} or the event stream.',
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
        { name: 'images', description: 'The image library: disk images, kernels and initrds, fetched by hosts on demand' },
        { name: 'tasks', description: 'Long operations' },
        { name: 'hosts', description: 'Hosts (one agent each)' },
        { name: 'cluster', description: 'Status, events, this document' },
        { name: 'internal', description: 'Called by agents with the cluster secret' },
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
  imageRoutes(app, () => opts.deps().images);
  metricsRoutes(app, opts.deps);
  balanceRoutes(app, () => opts.deps().balance);
  clusterRoutes(app, opts.deps);
  consoleRoutes(app, { sessions, adminToken: opts.adminToken, ...(opts.consoleShell !== undefined ? { shell: opts.consoleShell } : {}) });
  app.get(OPENAPI_PATH, { schema: { tags: ['cluster'], summary: 'This OpenAPI document' } }, async () => app.swagger());
  serveConsoleAttach(app.server, () => ({ adminToken: opts.adminToken, clusterSecret: opts.clusterSecret, agentUrlOf: (vm) => opts.deps().vms.agentUrl(vm), ...(opts.leadership ? { leadership: opts.leadership } : {}) }));
  return app;
}
