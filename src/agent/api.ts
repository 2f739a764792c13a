// The agent's HTTP API (its route table: src/contracts/agent-routes.ts, shared with the controller's fake agent). Turns requests into VmManager calls;
// auth, validation and error mapping come from the shared server base.
import type { FastifyInstance } from 'fastify';
import {
  AGENT_API_PREFIX, createApiServer, METRICS_PATH, type CloneRequest, type ForwardRequest, type HostInfo, type ProbeRequest, type ResizeRequest, type StopRequest, type VmSpec,
} from '../contracts/index.js';
import { AGENT_ROUTES, AGENT_SIMPLE_ACTIONS } from '../contracts/agent-routes.js';
import type { PeerIdentity, ServerTlsOptions } from '../pki/index.js';
import type { VmManager } from './manager.js';
import { addForward } from './forwards.js';
import { probeHttp } from './probe.js';
import type { AgentMetrics } from './prometheus.js';
import type { AllowedPaths } from './allowed-paths.js';
import { registerDrRoutes } from './dr/routes.js';
import type { DrService } from './dr/service.js';
import { registerMigrationRoutes } from './migration/routes.js';
import type { MigrationService } from './migration/service.js';

type VmName = { name: string };

/**
 * HTTPS only, with a client certificate from the cluster CA required in the handshake; the API and
 * /metrics take only a controller's certificate (role `controller`): another host's is refused.
 */
export function buildAgentApi(
  mgr: VmManager, https: ServerTlsOptions, host: () => HostInfo, migrations: () => MigrationService, dr: () => DrService, metrics: AgentMetrics, paths: AllowedPaths,
): FastifyInstance {
  const controller = (p: PeerIdentity): boolean => p.role === 'controller';
  const app = createApiServer({ https, credentials: [{ prefix: AGENT_API_PREFIX, peer: controller }, { prefix: METRICS_PATH, peer: controller }] });
  const R = AGENT_ROUTES;

  // Every route that takes a VM spec (define; an incoming migration's and a restore's `spec`)
  // may name host files only under the allowed image directories (allowed-paths.ts).
  app.addHook('preHandler', async (req) => {
    const body = req.body as (VmSpec & { spec?: undefined }) | { spec?: VmSpec } | null | undefined;
    if (!body || typeof body !== 'object') return;
    if (req.method === 'POST' && req.routeOptions.url === R.define.url) paths.check(body as VmSpec, 'body');
    else if (body.spec && typeof body.spec === 'object') paths.check(body.spec, 'body.spec');
  });

  app.get(METRICS_PATH, async (req, reply) => {
    const { contentType, body } = await metrics.scrape(req.headers.accept);
    return reply.type(contentType).send(body);
  });

  app.get(R.host.url, async () => host());
  app.get(R.listVms.url, async () => mgr.list());
  app.post<{ Body: VmSpec }>(R.define.url, { schema: R.define.schema }, async (req) => mgr.define(req.body));
  app.get<{ Params: VmName }>(R.get.url, { schema: R.get.schema }, async (req) => mgr.status(req.params.name));
  app.delete<{ Params: VmName }>(R.remove.url, { schema: R.remove.schema }, async (req, reply) => {
    await mgr.remove(req.params.name);
    return reply.status(204).send();
  });
  for (const action of AGENT_SIMPLE_ACTIONS) {
    app.post<{ Params: VmName }>(R[action].url, { schema: R[action].schema }, async (req) => mgr.do(req.params.name, action));
  }
  app.post<{ Params: VmName; Body: StopRequest | undefined }>(R.stop.url, { schema: R.stop.schema }, async (req) => mgr.stop(req.params.name, req.body ?? {}));
  app.post<{ Params: VmName; Body: ResizeRequest }>(R.resize.url, { schema: R.resize.schema }, async (req) => mgr.resize(req.params.name, req.body.memoryMiB));
  app.post<{ Params: VmName; Body: CloneRequest }>(R.clone.url, { schema: R.clone.schema }, async (req) => mgr.clone(req.params.name, req.body));
  app.get<{ Params: VmName; Querystring: { tailBytes?: number } }>(R.console.url, { schema: R.console.schema }, async (req, reply) =>
    reply.type('text/plain; charset=utf-8').send(mgr.console(req.params.name, req.query.tailBytes)),
  );
  app.post<{ Params: VmName; Body: ProbeRequest }>(R.probe.url, { schema: R.probe.schema }, async (req) => probeHttp(mgr.get(req.params.name), req.body.guestPort));
  app.post<{ Params: VmName; Body: ForwardRequest }>(R.forward.url, { schema: R.forward.schema }, async (req) => {
    await addForward(mgr.get(req.params.name), req.body.guestPort, mgr.launch.forwards);
    return mgr.status(req.params.name);
  });
  registerMigrationRoutes(app, migrations);
  registerDrRoutes(app, dr);
  return app;
}
