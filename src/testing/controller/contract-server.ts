// Serves routes of a contract table (src/contracts/agent-routes.ts) the way the real component
// would: on the same HTTP server base (createApiServer: bearer token, strict validation of
// params, query and body against the route's schemas, the same error body and statuses), with
// handlers that return `{status, body}`. Every reply is checked too — a 2xx against the route's
// reply schema, an error against ApiErrorBody with the status its code maps to — and one that
// does not match is a contract breach: answered 500, and reported through `onBreach`, which by
// default throws it where nothing catches it, so the test running fails loudly.
import { FormatRegistry } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { FastifyInstance } from 'fastify';
import type { AgentRoute } from '../../contracts/agent-routes.js';
import { ApiErrorBody, HTTP_STATUS, isErrorCode } from '../../contracts/errors.js';

export type FakeReply = { status: number; body?: unknown };

export interface FakeRequest {
  params: Record<string, string>;
  query: Record<string, unknown>;
  body: unknown;
}

export type FakeHandler = (req: FakeRequest) => FakeReply | Promise<FakeReply>;

/** A reply the fake was about to send that the contract does not allow. */
export class ContractBreach extends Error {
  constructor(
    readonly route: string,
    readonly why: string,
  ) {
    super(`fake agent broke the contract of ${route}: ${why}`);
    this.name = 'ContractBreach';
  }
}

export const throwUncaught = (b: ContractBreach): void => {
  process.nextTick(() => {
    throw b;
  });
};

// What Fastify's Ajv checks as `format: uuid` (ajv-formats), for TypeBox's checks of replies.
const UUID = /^(?:urn:uuid:)?[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}$/i;
if (!FormatRegistry.Has('uuid')) FormatRegistry.Set('uuid', (v) => UUID.test(v));

export const ok = (body: unknown): FakeReply => ({ status: 200, body });

/** An error reply as the real server's error handler writes it (status from the code). */
export function fail(code: keyof typeof HTTP_STATUS, message: string): FakeReply {
  return { status: HTTP_STATUS[code], body: { error: { code, message } } };
}

/** Why `r` is not a reply `route` may give, or undefined if it is one. */
export function replyBreach(route: AgentRoute, r: FakeReply): string | undefined {
  if (r.status < 200 || r.status >= 300) {
    if (!Value.Check(ApiErrorBody, r.body)) return `error body: ${firstError(ApiErrorBody, r.body)}`;
    const { code } = (r.body as ApiErrorBody).error;
    if (!isErrorCode(code)) return `error code ${code} is not one the server can send`;
    if (HTTP_STATUS[code] !== r.status) return `status ${r.status} with ${code}, which the server sends as ${HTTP_STATUS[code]}`;
    return undefined;
  }
  if (route.reply === 'none') return r.status === 204 && r.body === undefined ? undefined : `expected 204 and no body, got ${r.status}`;
  if (route.reply === 'text') return typeof r.body === 'string' ? undefined : 'expected text';
  return Value.Check(route.reply, r.body) ? undefined : firstError(route.reply, r.body);
}

function firstError(schema: Parameters<typeof Value.Errors>[0], value: unknown): string {
  const e = Value.Errors(schema, value).First();
  return e ? `${e.path || '/'} ${e.message}` : 'does not match';
}

/** Registers every route of `table` on `app`, its replies checked. */
export function serveRoutes<N extends string>(
  app: FastifyInstance,
  table: Record<N, AgentRoute>,
  handlers: Record<N, FakeHandler>,
  onBreach: (b: ContractBreach) => void,
): void {
  for (const name of Object.keys(table) as N[]) {
    const route = table[name];
    const handle = handlers[name];
    app.route({
      method: route.method,
      url: route.url,
      schema: route.schema,
      handler: async (req, reply) => {
        const r = await handle({ params: req.params as Record<string, string>, query: req.query as Record<string, unknown>, body: req.body });
        const why = replyBreach(route, r);
        if (why !== undefined) {
          const breach = new ContractBreach(`${route.method} ${route.url}`, why);
          onBreach(breach);
          return reply.status(500).send({ error: { code: 'INTERNAL', message: breach.message } });
        }
        if (r.body === undefined) return reply.status(r.status).send();
        if (typeof r.body === 'string') return reply.status(r.status).type('text/plain; charset=utf-8').send(r.body);
        return reply.status(r.status).send(r.body);
      },
    });
  }
}
