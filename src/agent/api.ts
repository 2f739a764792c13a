// The agent's HTTP API (routes: src/contracts/agent-api.ts). Turns requests into VmManager calls;
// auth, validation and error mapping come from the shared server base.
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import {
  AGENT_API_PREFIX, CloneRequest, ForwardRequest, createApiServer, METRICS_PATH, ProbeRequest, ResizeRequest, StopRequest, VM_NAME_PATTERN, VmSpec,
  type HostInfo,
} from '../contracts/index.js';
import { MAX_CONSOLE_TAIL, type SimpleAction, type VmManager } from './manager.js';
import { addForward } from './forwards.js';
import { probeHttp } from './probe.js';
import type { AgentMetrics } from './prometheus.js';
import { registerDrRoutes } from './dr/routes.js';
import type { DrService } from './dr/service.js';
import { registerMigrationRoutes } from './migration/routes.js';
import type { MigrationService } from './migration/service.js';

const NameParams = Type.Object({ name: Type.String({ pattern: VM_NAME_PATTERN }) });
const ConsoleQuery = Type.Object({ tailBytes: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_CONSOLE_TAIL })) }, { additionalProperties: false });
const SIMPLE: SimpleAction[] = ['start', 'pause', 'resume', 'suspend', 'restore'];

export function buildAgentApi(
  mgr: VmManager, secret: string, host: () => HostInfo, migrations: () => MigrationService, dr: () => DrService, metrics: AgentMetrics,
): FastifyInstance {
  const app = createApiServer({ credentials: [{ prefix: AGENT_API_PREFIX, tokens: () => [secret] }, { prefix: METRICS_PATH, tokens: () => [secret] }] });
  const p = AGENT_API_PREFIX;

  app.get(METRICS_PATH, async (req, reply) => {
    const { contentType, body } = await metrics.scrape(req.headers.accept);
    return reply.type(contentType).send(body);
  });

  app.get(`${p}/host`, async () => host());
  app.get(`${p}/vms`, async () => mgr.list());
  app.post<{ Body: VmSpec }>(`${p}/vms`, { schema: { body: VmSpec } }, async (req) => mgr.define(req.body));
  app.get<{ Params: { name: string } }>(`${p}/vms/:name`, { schema: { params: NameParams } }, async (req) => mgr.status(req.params.name));
  app.delete<{ Params: { name: string } }>(`${p}/vms/:name`, { schema: { params: NameParams } }, async (req, reply) => {
    await mgr.remove(req.params.name);
    return reply.status(204).send();
  });
  for (const action of SIMPLE) {
    // No body schema: these take `{}` or nothing.
    app.post<{ Params: { name: string } }>(`${p}/vms/:name/${action}`, { schema: { params: NameParams } }, async (req) => mgr.do(req.params.name, action));
  }
  app.post<{ Params: { name: string }; Body: StopRequest | undefined }>(
    `${p}/vms/:name/stop`,
    { schema: { params: NameParams, body: Type.Optional(StopRequest) } },
    async (req) => mgr.stop(req.params.name, req.body ?? {}),
  );
  app.post<{ Params: { name: string }; Body: ResizeRequest }>(
    `${p}/vms/:name/resize`,
    { schema: { params: NameParams, body: ResizeRequest } },
    async (req) => mgr.resize(req.params.name, req.body.memoryMiB),
  );
  app.post<{ Params: { name: string }; Body: CloneRequest }>(
    `${p}/vms/:name/clone`,
    { schema: { params: NameParams, body: CloneRequest } },
    async (req) => mgr.clone(req.params.name, req.body),
  );
  app.get<{ Params: { name: string }; Querystring: { tailBytes?: number } }>(
    `${p}/vms/:name/console`,
    { schema: { params: NameParams, querystring: ConsoleQuery } },
    async (req, reply) => reply.type('text/plain; charset=utf-8').send(mgr.console(req.params.name, req.query.tailBytes)),
  );
  app.post<{ Params: { name: string }; Body: ProbeRequest }>(
    `${p}/vms/:name/probe`,
    { schema: { params: NameParams, body: ProbeRequest } },
    async (req) => probeHttp(mgr.get(req.params.name), req.body.guestPort),
  );
  app.post<{ Params: { name: string }; Body: ForwardRequest }>(
    `${p}/vms/:name/forwards`,
    { schema: { params: NameParams, body: ForwardRequest } },
    async (req) => {
      await addForward(mgr.get(req.params.name), req.body.guestPort);
      return mgr.status(req.params.name);
    },
  );
  registerMigrationRoutes(app, migrations);
  registerDrRoutes(app, dr);
  return app;
}
