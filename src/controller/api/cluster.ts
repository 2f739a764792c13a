// Cluster-wide routes: status, hosts, tasks, the event stream, and the agents' heartbeat.
import type { FastifyInstance } from 'fastify';
import { AgentHeartbeat, API_PREFIX, ClusterEvent, HeartbeatReply, INTERNAL_PREFIX, type ClusterStatus } from '../../contracts/controller-api.js';
import type { HostViews } from '../cluster/host-views.js';
import type { HostMonitor } from '../host-monitor.js';
import type { SseHub } from '../sse.js';
import type { TaskRunner } from '../task-runner.js';
import { DEFAULT_TASK_LIMIT, EmptyBody, IdParams, TasksQuery, errorReplies, arrayOf, ref } from './schemas.js';

export interface ClusterDeps {
  hosts: HostViews;
  runner: TaskRunner;
  monitor: HostMonitor;
  sse: SseHub;
  status(): ClusterStatus;
}

export function clusterRoutes(app: FastifyInstance, deps: () => ClusterDeps): void {
  app.get(
    `${API_PREFIX}/status`,
    { schema: { tags: ['cluster'], summary: 'Cluster summary', response: { 200: ref('ClusterStatus'), ...errorReplies } } },
    async () => deps().status(),
  );

  app.get(
    `${API_PREFIX}/hosts`,
    { schema: { tags: ['hosts'], summary: 'List hosts', response: { 200: arrayOf('Host'), ...errorReplies } } },
    async () => deps().hosts.list(),
  );

  app.get<{ Querystring: { limit?: number } }>(
    `${API_PREFIX}/tasks`,
    { schema: { tags: ['tasks'], summary: 'Recent tasks, newest first', querystring: TasksQuery, response: { 200: arrayOf('Task'), ...errorReplies } } },
    async (req) => deps().runner.list(req.query.limit ?? DEFAULT_TASK_LIMIT),
  );

  app.get<{ Params: { id: string } }>(
    `${API_PREFIX}/tasks/:id`,
    { schema: { tags: ['tasks'], summary: 'Show a task', params: IdParams, response: { 200: ref('Task'), ...errorReplies } } },
    async (req) => deps().runner.get(req.params.id),
  );

  app.post<{ Params: { id: string } }>(
    `${API_PREFIX}/tasks/:id/abort`,
    { schema: { tags: ['tasks'], summary: 'Abort a running task', params: IdParams, body: EmptyBody, response: { 200: ref('Task'), ...errorReplies } } },
    async (req) => deps().runner.abort(req.params.id),
  );

  app.get(
    `${API_PREFIX}/events`,
    {
      schema: {
        tags: ['cluster'],
        summary: 'Server-Sent Events: task, vm, vm.removed, host, dr.checkpoint, dr.alarm, dr.state, dr.ha and balance.decision changes, migration progress, and load (every 2 s) (event: <type>, data: ClusterEvent JSON)',
        produces: ['text/event-stream'],
        response: { 200: { content: { 'text/event-stream': { schema: ClusterEvent } } }, ...errorReplies },
      },
    },
    (req, reply) => {
      const sse = deps().sse;
      sse.admit(req.ip); // refused with a JSON error before the stream starts
      reply.hijack();
      sse.attach(reply.raw, req.ip);
    },
  );

  app.post<{ Body: AgentHeartbeat }>(
    `${INTERNAL_PREFIX}/heartbeat`,
    {
      schema: {
        tags: ['internal'],
        summary: 'Agent heartbeat (cluster secret): registers the host, reports its VMs, and gets its data-plane certificate signed (csr)',
        body: AgentHeartbeat,
        response: { 200: HeartbeatReply, ...errorReplies },
      },
    },
    async (req) => deps().monitor.heartbeat(req.body),
  );
}
