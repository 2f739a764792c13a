// What the HTTP layer does about leadership (several controllers on one PostgreSQL):
// - on a standby, anything but a read — every change, and every agent call under /internal
//   (heartbeats) — is refused with NOT_LEADER naming the leader in the x-ferry-leader header,
//   which the CLI's and the agents' client follows; the console's pages redirect to the leader;
// - on the leader, a change (POST/PUT/PATCH/DELETE under /api/v1 or /console) answers only
//   once its writes are durable in the store (StateStore.flushed). A heartbeat never waits for
//   the database (issue 14: an agent's lease must not depend on it answering).
import type { FastifyInstance } from 'fastify';
import { API_PREFIX, INTERNAL_PREFIX } from '../../contracts/controller-api.js';
import { LEADER_HEADER } from '../../contracts/http-client.js';
import { NotLeaderError } from '../errors.js';

export interface LeadershipView {
  /** Does this controller lead (and has it finished taking over)? */
  leads(): boolean;
  /** The leader's URL, when known. */
  leaderUrl(): string | undefined;
  /** Resolves when every write made so far is durable. */
  durable(): Promise<void>;
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);
const CONSOLE_PAGES = (path: string): boolean => path === '/' || path.startsWith('/console/');

export function leadershipHooks(app: FastifyInstance, view: LeadershipView): void {
  app.addHook('onRequest', async (req, reply) => {
    if (view.leads()) return;
    const path = req.url.split('?')[0] ?? '';
    const leader = view.leaderUrl();
    if (leader) void reply.header(LEADER_HEADER, leader);
    if (SAFE.has(req.method) && path.startsWith(API_PREFIX)) return; // a standby serves reads from its copy
    if (leader && SAFE.has(req.method) && CONSOLE_PAGES(path)) return reply.redirect(new URL(req.url, leader).toString(), 307);
    if (SAFE.has(req.method) && !path.startsWith(INTERNAL_PREFIX)) return;
    throw new NotLeaderError(leader ? `this controller is a standby; the leader is ${leader}` : 'this controller is a standby and no leader is known yet; retry shortly', leader);
  });

  app.addHook('onSend', async (req, reply, payload) => {
    if (SAFE.has(req.method) || req.url.startsWith(INTERNAL_PREFIX) || reply.statusCode >= 400) return payload;
    if (!req.url.startsWith(`${API_PREFIX}/`) && !req.url.startsWith('/console/')) return payload;
    try {
      await view.durable();
      return payload;
    } catch (err) {
      const refusal = err instanceof NotLeaderError ? err : new NotLeaderError(`the change could not be made durable: ${(err as Error).message}`);
      void reply.code(refusal.httpStatus).header('content-type', 'application/json; charset=utf-8');
      return JSON.stringify(refusal.toBody());
    }
  });
}
