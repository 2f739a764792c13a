// Agent API routes of the seven migration steps (contract: src/contracts/migration.ts).
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { AGENT_API_PREFIX, IncomingMigrationRequest, MeasureRequest, OutgoingMigrationRequest } from '../../contracts/index.js';
import type { MigrationService } from './service.js';

const IdParams = Type.Object({ id: Type.String({ minLength: 8, maxLength: 64 }) });
const Empty = Type.Optional(Type.Object({}, { additionalProperties: false }));

export function registerMigrationRoutes(app: FastifyInstance, svc: () => MigrationService): void {
  const p = `${AGENT_API_PREFIX}/migrations`;
  app.post<{ Body: MeasureRequest }>(`${p}/measure`, { schema: { body: MeasureRequest } }, async (req) => svc().measure(req.body));
  app.post<{ Body: IncomingMigrationRequest }>(`${p}/incoming`, { schema: { body: IncomingMigrationRequest } }, async (req) => svc().incoming(req.body));
  app.post<{ Body: OutgoingMigrationRequest }>(`${p}/outgoing`, { schema: { body: OutgoingMigrationRequest } }, async (req) => svc().outgoing(req.body));
  app.get<{ Params: { id: string } }>(`${p}/:id`, { schema: { params: IdParams } }, async (req) => svc().progress(req.params.id));
  app.post<{ Params: { id: string } }>(`${p}/:id/commit`, { schema: { params: IdParams, body: Empty } }, async (req) => svc().commit(req.params.id));
  app.post<{ Params: { id: string } }>(`${p}/:id/abort`, { schema: { params: IdParams, body: Empty } }, async (req) => svc().abort(req.params.id));
}
