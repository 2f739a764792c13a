// Disaster recovery routes (src/contracts/dr.ts): protections, their checkpoints, failover / DR test /
// failback tasks, and the reports those leave behind.
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { API_PREFIX } from '../../contracts/controller-api.js';
import { FailoverRequest, ProtectRequest } from '../../contracts/dr.js';
import type { DrService } from '../dr/service.js';
import { EmptyBody, errorReplies, arrayOf, NameParams as HostParams, ref } from './schemas.js';

const tags = ['dr'];
const VmParams = Type.Object({ vm: Type.String({ minLength: 1, maxLength: 100 }) });
const ReportsQuery = Type.Object({ vm: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })) }, { additionalProperties: false });
const accepted = { 202: ref('Task'), ...errorReplies };

export function drRoutes(app: FastifyInstance, dr: () => DrService): void {
  const p = `${API_PREFIX}/dr/protections`;

  app.post<{ Body: ProtectRequest }>(
    p,
    {
      schema: {
        tags,
        summary: 'Protect a VM: continuous checkpoints to a host of another site, keeping the newest within the RPO',
        body: ProtectRequest,
        response: { 201: ref('Protection'), ...errorReplies },
      },
    },
    async (req, reply) => reply.status(201).send(dr().protect(req.body)),
  );

  app.get(p, { schema: { tags, summary: 'Every protection, with the age of its newest checkpoint', response: { 200: arrayOf('Protection'), ...errorReplies } } }, async () =>
    dr().list(),
  );

  app.get<{ Params: { vm: string } }>(
    `${p}/:vm`,
    { schema: { tags, summary: "Show a VM's protection", params: VmParams, response: { 200: ref('Protection'), ...errorReplies } } },
    async (req) => dr().get(req.params.vm),
  );

  app.delete<{ Params: { vm: string } }>(
    `${p}/:vm`,
    { schema: { tags, summary: 'Unprotect: stop replication and free the DR copies (answers with the protection as it was)', params: VmParams, response: { 200: ref('Protection'), ...errorReplies } } },
    async (req) => dr().unprotect(req.params.vm),
  );

  app.get<{ Params: { vm: string } }>(
    `${p}/:vm/checkpoints`,
    { schema: { tags, summary: 'Committed checkpoints of a protected VM, newest first', params: VmParams, response: { 200: arrayOf('CheckpointRecord'), ...errorReplies } } },
    async (req) => dr().checkpoints(req.params.vm),
  );

  app.post<{ Params: { vm: string }; Body: FailoverRequest }>(
    `${p}/:vm/failover`,
    {
      schema: {
        tags,
        summary: 'Fail over (unplanned: the newest checkpoint, the VM\'s host must be down; planned: nothing lost; test: an isolated copy, checked and torn down). 202 Task whose result is the FailoverReport',
        params: VmParams,
        body: FailoverRequest,
        response: accepted,
      },
    },
    async (req, reply) => reply.status(202).send(dr().failover(req.params.vm, req.body)),
  );

  app.post<{ Params: { vm: string } }>(
    `${p}/:vm/failback`,
    {
      schema: { tags, summary: 'Bring a failed-over VM home, sending only what changed (202 Task whose result is the FailoverReport)', params: VmParams, body: EmptyBody, response: accepted },
    },
    async (req, reply) => reply.status(202).send(dr().failback(req.params.vm)),
  );

  app.post<{ Params: { name: string } }>(
    `${API_PREFIX}/hosts/:name/dr-scrub`,
    {
      schema: {
        tags, summary: "Re-hash every chunk of a host's DR store: corrupt chunks are removed and the checkpoints that used them marked damaged",
        params: HostParams, body: EmptyBody, response: { 200: ref('ScrubReport'), ...errorReplies },
      },
    },
    async (req) => dr().scrub(req.params.name),
  );

  app.get<{ Querystring: { vm?: string } }>(
    `${API_PREFIX}/dr/reports`,
    { schema: { tags, summary: 'Failover, DR test and failback reports, newest first (optionally of one VM)', querystring: ReportsQuery, response: { 200: arrayOf('FailoverReport'), ...errorReplies } } },
    async (req) => dr().reports(req.query.vm),
  );
}
