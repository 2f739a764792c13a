// Agent API routes of disaster recovery (contract: src/contracts/dr.ts).
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { AGENT_API_PREFIX, ReceiveCheckpointRequest, RestoreRequest, SendCheckpointRequest, VM_NAME_PATTERN } from '../../contracts/index.js';
import type { DrService } from './service.js';

const IdParams = Type.Object({ id: Type.String({ minLength: 8, maxLength: 64 }) });
const VmParams = Type.Object({ vm: Type.String({ pattern: VM_NAME_PATTERN }) });
const Empty = Type.Optional(Type.Object({}, { additionalProperties: false }));

export function registerDrRoutes(app: FastifyInstance, svc: () => DrService): void {
  const p = `${AGENT_API_PREFIX}/dr`;
  app.post<{ Body: ReceiveCheckpointRequest }>(`${p}/receive`, { schema: { body: ReceiveCheckpointRequest } }, async (req) => svc().receive(req.body));
  app.post<{ Body: SendCheckpointRequest }>(`${p}/send`, { schema: { body: SendCheckpointRequest } }, async (req) => svc().send(req.body));
  app.get<{ Params: { id: string } }>(`${p}/jobs/:id`, { schema: { params: IdParams } }, async (req) => svc().job(req.params.id));
  app.post<{ Params: { id: string } }>(`${p}/jobs/:id/abort`, { schema: { params: IdParams, body: Empty } }, async (req) => svc().abort(req.params.id));
  app.get<{ Params: { vm: string } }>(`${p}/store/:vm`, { schema: { params: VmParams } }, async (req) => svc().list(req.params.vm));
  app.delete<{ Params: { vm: string } }>(`${p}/store/:vm`, { schema: { params: VmParams } }, async (req) => svc().drop(req.params.vm));
  app.post<{ Body: RestoreRequest }>(`${p}/restore`, { schema: { body: RestoreRequest } }, async (req) => svc().restore(req.body));
  app.post(`${p}/scrub`, { schema: { body: Empty } }, async () => svc().scrub());
}
