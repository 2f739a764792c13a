// /api/v1/vms routes: HTTP in, typed command out. Every action answers 202 with its task.
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { API_PREFIX, CloneVmRequest, CreateVmRequest } from '../../contracts/controller-api.js';
import { ResizeRequest, StopRequest } from '../../contracts/agent-api.js';
import { GuestHealth } from '../../contracts/guest-health.js';
import { AGENT_SIMPLE_ACTIONS } from '../../contracts/agent-routes.js';
import type { VmService } from '../vm-service.js';
import { ConsoleQuery, EmptyBody, NameParams, errorReplies, arrayOf, ref } from './schemas.js';

const tags = ['vms'];
const accepted = { 202: ref('Task'), ...errorReplies };

export function vmRoutes(app: FastifyInstance, vms: () => VmService): void {
  const p = `${API_PREFIX}/vms`;

  app.get(p, { schema: { tags, summary: 'List VMs', response: { 200: arrayOf('Vm'), ...errorReplies } } }, async () => vms().list());

  app.post<{ Body: CreateVmRequest }>(
    p,
    { schema: { tags, summary: 'Create a VM (placed, defined, then started unless start: false)', body: CreateVmRequest, response: accepted } },
    async (req, reply) => reply.status(202).send(vms().create(req.body)),
  );

  app.get<{ Params: { name: string } }>(
    `${p}/:name`,
    { schema: { tags, summary: 'Show a VM', params: NameParams, response: { 200: ref('Vm'), ...errorReplies } } },
    async (req) => vms().get(req.params.name),
  );

  app.get<{ Params: { name: string } }>(
    `${p}/:name/health`,
    { schema: { tags, summary: "What can be seen of the guest where it runs: QEMU's state, its guest agent (if it has one), its forwarded ports", params: NameParams, response: { 200: GuestHealth, ...errorReplies } } },
    async (req) => vms().health(req.params.name),
  );

  app.delete<{ Params: { name: string } }>(
    `${p}/:name`,
    { schema: { tags, summary: 'Delete a VM and its files (stopped, suspended or crashed)', params: NameParams, response: accepted } },
    async (req, reply) => reply.status(202).send(vms().remove(req.params.name)),
  );

  // The actions the agent takes without arguments, passed through as tasks.
  for (const action of AGENT_SIMPLE_ACTIONS) {
    app.post<{ Params: { name: string } }>(
      `${p}/:name/${action}`,
      { schema: { tags, summary: `${action[0]!.toUpperCase()}${action.slice(1)} a VM`, params: NameParams, body: EmptyBody, response: accepted } },
      async (req, reply) => reply.status(202).send(vms().action(req.params.name, action)),
    );
  }

  app.post<{ Params: { name: string }; Body: StopRequest }>(
    `${p}/:name/stop`,
    { schema: { tags, summary: 'Stop a VM (graceful power-off, forced after timeoutMs)', params: NameParams, body: StopRequest, response: accepted } },
    async (req, reply) => reply.status(202).send(vms().stop(req.params.name, req.body)),
  );

  app.post<{ Params: { name: string }; Body: CloneVmRequest }>(
    `${p}/:name/clone`,
    { schema: { tags, summary: 'Clone a VM on its host', params: NameParams, body: CloneVmRequest, response: accepted } },
    async (req, reply) => reply.status(202).send(vms().clone(req.params.name, req.body)),
  );

  app.post<{ Params: { name: string }; Body: ResizeRequest }>(
    `${p}/:name/resize`,
    { schema: { tags, summary: "Set a VM's balloon target", params: NameParams, body: ResizeRequest, response: accepted } },
    async (req, reply) => reply.status(202).send(vms().resize(req.params.name, req.body)),
  );

  app.get<{ Params: { name: string }; Querystring: { tailBytes?: number } }>(
    `${p}/:name/console`,
    {
      schema: {
        tags,
        summary: "The VM's serial console output, from whichever host runs it",
        params: NameParams,
        querystring: ConsoleQuery,
        produces: ['text/plain'],
        response: { 200: { content: { 'text/plain': { schema: Type.String() } } }, ...errorReplies },
      },
    },
    async (req, reply) => reply.type('text/plain; charset=utf-8').send(await vms().console(req.params.name, req.query.tailBytes)),
  );
}
