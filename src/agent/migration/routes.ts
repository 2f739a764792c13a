// Agent API routes of the seven migration steps (route table: src/contracts/agent-routes.ts).
import type { FastifyInstance } from 'fastify';
import type { AbortMigrationRequest, IncomingMigrationRequest, MeasureRequest, OutgoingMigrationRequest } from '../../contracts/index.js';
import { AGENT_ROUTES as R } from '../../contracts/agent-routes.js';
import { takeDropCommitReply } from './fault-hooks.js';
import type { MigrationService } from './service.js';

type JobId = { id: string };

export function registerMigrationRoutes(app: FastifyInstance, svc: () => MigrationService): void {
  app.post<{ Body: MeasureRequest }>(R.measure.url, { schema: R.measure.schema }, async (req) => svc().measure(req.body));
  app.post<{ Body: IncomingMigrationRequest }>(R.incoming.url, { schema: R.incoming.schema }, async (req) => svc().incoming(req.body));
  app.post<{ Body: OutgoingMigrationRequest }>(R.outgoing.url, { schema: R.outgoing.schema }, async (req) => svc().outgoing(req.body));
  app.get<{ Params: JobId }>(R.migration.url, { schema: R.migration.schema }, async (req) => svc().progress(req.params.id));
  app.post<{ Params: JobId }>(R.commitMigration.url, { schema: R.commitMigration.schema }, async (req, reply) => {
    const done = await svc().commit(req.params.id);
    if (takeDropCommitReply(svc().ctx.dataDir)) {
      req.socket.destroy();
      return reply.hijack();
    }
    return done;
  });
  app.post<{ Params: JobId; Body: AbortMigrationRequest }>(R.abortMigration.url, { schema: R.abortMigration.schema }, async (req) => svc().abort(req.params.id, req.body ?? {}));
}
