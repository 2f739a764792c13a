// Load-balancing routes (src/contracts/balance.ts): status, a plan on demand, a run that carries
// the plan out, the config (auto mode and policy), and the decision log.
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { BalanceConfig, BalanceConfigPatch, BalanceDecision, BalancePlan, BalanceStatus } from '../../contracts/balance.js';
import { API_PREFIX } from '../../contracts/controller-api.js';
import type { BalanceService } from '../balance/service.js';
import { EmptyBody, errorReplies, ref } from './schemas.js';

const tags = ['balance'];
const DecisionsQuery = Type.Object(
  { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })), vm: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })) },
  { additionalProperties: false },
);

export function balanceRoutes(app: FastifyInstance, balance: () => BalanceService): void {
  const p = `${API_PREFIX}/balance`;

  app.get(
    p,
    { schema: { tags, summary: 'Every host\'s profile (mean load over the window, volume, hot by k of n), the imbalance, moves in flight, the latest decisions and the config', response: { 200: BalanceStatus, ...errorReplies } } },
    async () => balance().status(),
  );

  app.get(
    `${p}/plan`,
    { schema: { tags, summary: 'Plan for the cluster as it is now: each move with its reason, predicted gain and cost. Moves nothing', response: { 200: BalancePlan, ...errorReplies } } },
    async () => balance().plan(),
  );

  app.post(
    `${p}/apply`,
    { schema: { tags, summary: 'Plan and carry the plan out by live migration (202 Task `balance.run`; one run at a time, 409 while one runs)', body: EmptyBody, response: { 202: ref('Task'), ...errorReplies } } },
    async (_req, reply) => reply.status(202).send(balance().apply('apply')),
  );

  app.get(`${p}/config`, { schema: { tags, summary: 'The balancer\'s config', response: { 200: BalanceConfig, ...errorReplies } } }, async () => balance().config());

  app.put<{ Body: BalanceConfigPatch }>(
    `${p}/config`,
    { schema: { tags, summary: 'Change the config: auto mode on/off, policy fields, sample width, interval, concurrency. Answers the whole new config', body: BalanceConfigPatch, response: { 200: BalanceConfig, ...errorReplies } } },
    async (req) => balance().updateConfig(req.body),
  );

  app.get<{ Querystring: { limit?: number; vm?: string } }>(
    `${p}/decisions`,
    { schema: { tags, summary: 'The balancer\'s decisions, newest first (optionally about one VM)', querystring: DecisionsQuery, response: { 200: Type.Array(BalanceDecision), ...errorReplies } } },
    async (req) => balance().decisions(req.query.limit ?? 50, req.query.vm),
  );
}
