// Service endpoint and location routes (src/contracts/endpoints.ts).
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { API_PREFIX } from '../../contracts/controller-api.js';
import { ExposeRequest } from '../../contracts/endpoints.js';
import type { EndpointService } from '../endpoints/service.js';
import { NameParams, errorReplies, arrayOf, ref } from './schemas.js';

const tags = ['endpoints'];
const PortParams = Type.Composite([NameParams, Type.Object({ port: Type.Integer({ minimum: 1, maximum: 65535 }) })]);

export function endpointRoutes(app: FastifyInstance, endpoints: () => EndpointService): void {
  const p = `${API_PREFIX}/vms/:name`;

  app.post<{ Params: { name: string }; Body: ExposeRequest }>(
    `${p}/expose`,
    {
      schema: {
        tags,
        summary: "Give a guest port a stable address that follows the VM wherever it runs (201; 200 with the same endpoint if already exposed)",
        params: NameParams,
        body: ExposeRequest,
        response: { 200: ref('ServiceEndpoint'), 201: ref('ServiceEndpoint'), ...errorReplies },
      },
    },
    async (req, reply) => {
      const r = await endpoints().expose(req.params.name, req.body.port);
      return reply.status(r.created ? 201 : 200).send(r.endpoint);
    },
  );

  app.delete<{ Params: { name: string; port: number } }>(
    `${p}/expose/:port`,
    { schema: { tags, summary: "Close a guest port's service endpoint (the VM keeps its forward)", params: PortParams, response: { 204: Type.Null(), ...errorReplies } } },
    async (req, reply) => {
      endpoints().unexpose(req.params.name, req.params.port);
      return reply.status(204).send();
    },
  );

  app.get<{ Params: { name: string } }>(
    `${p}/endpoints`,
    { schema: { tags, summary: "A VM's service endpoints", params: NameParams, response: { 200: arrayOf('ServiceEndpoint'), ...errorReplies } } },
    async (req) => endpoints().list(req.params.name),
  );

  app.get(
    `${API_PREFIX}/locations`,
    { schema: { tags, summary: 'Where every VM runs now (the location registry)', response: { 200: arrayOf('VmLocation'), ...errorReplies } } },
    async () => endpoints().locations(),
  );
}
