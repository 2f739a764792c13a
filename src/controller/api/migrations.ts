// Live migration routes (src/contracts/migration.ts): start one (or plan it with dryRun), and read
// the records.
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { API_PREFIX } from '../../contracts/controller-api.js';
import { MigrateRequest } from '../../contracts/migration.js';
import type { MigrationService } from '../migration/service.js';
import { IdParams, NameParams, errorReplies, arrayOf, ref } from './schemas.js';

const MigrationsQuery = Type.Object({ vm: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })) }, { additionalProperties: false });

export function migrationRoutes(app: FastifyInstance, migrations: () => MigrationService): void {
  app.post<{ Params: { name: string }; Body: MigrateRequest }>(
    `${API_PREFIX}/vms/:name/migrate`,
    {
      schema: {
        tags: ['migrations'],
        summary: 'Live-migrate a running VM to another host (202 Task whose result is the MigrationRecord); with dryRun, 200 and the plan only',
        params: NameParams,
        body: MigrateRequest,
        response: { 200: ref('MigrationPlan'), 202: ref('Task'), ...errorReplies },
      },
    },
    async (req, reply) => {
      const r = await migrations().migrate(req.params.name, req.body);
      return r.status === 200 ? reply.status(200).send(r.plan) : reply.status(202).send(r.task);
    },
  );

  app.get<{ Querystring: { vm?: string } }>(
    `${API_PREFIX}/migrations`,
    { schema: { tags: ['migrations'], summary: 'Migration records, newest first (optionally of one VM)', querystring: MigrationsQuery, response: { 200: arrayOf('MigrationRecord'), ...errorReplies } } },
    async (req) => migrations().list(req.query.vm),
  );

  app.get<{ Params: { id: string } }>(
    `${API_PREFIX}/migrations/:id`,
    { schema: { tags: ['migrations'], summary: 'Show one migration record', params: IdParams, response: { 200: ref('MigrationRecord'), ...errorReplies } } },
    async (req) => migrations().get(req.params.id),
  );
}
