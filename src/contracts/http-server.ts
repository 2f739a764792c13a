// The HTTP server base shared by the controller's API and the agent's API: bearer-token
// authentication on every route, request size limits, strict validation (unknown fields are
// rejected, not silently dropped) and one error handler that turns FerryError and validation
// failures into the ApiErrorBody with the right status. Domain code never sees HTTP.
// Optional, for a browser: routes that need no credential (`isPublic`), and a session cookie
// that stands in for the bearer token under some prefixes (`cookieAuth`), with a CSRF header
// required on requests that change something.
// Limits against slow or idle clients (HttpLimits): the headers and the whole request must
// arrive in time, an idle keep-alive connection is closed, connections are capped. There is no
// limit on how long a handler may take (an agent's scrub runs for minutes; callers put their
// own timeout on each call), so an event stream or a long call is never cut by the server.
import Fastify, { type FastifyInstance, type FastifyError, type FastifyRequest } from 'fastify';
import { verifiedPeer, type PeerIdentity, type ServerTlsOptions } from '../pki/index.js';
import { bearerMatches } from './auth.js';
import { FerryError } from './errors.js';

export const MAX_REQUEST_BYTES = 1024 * 1024;

export interface HttpLimits {
  /** The request line and headers must arrive within this (slowloris); answered 408. */
  headersTimeoutMs: number;
  /** The whole request, body included, must arrive within this; answered 408. */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** Connections open at once; more are closed at accept. */
  maxConnections: number;
  /** How often the server checks the two request timeouts (Node checks on an interval). */
  checkEveryMs: number;
}

export const HTTP_LIMITS: HttpLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 10_000,
  maxConnections: 1024,
  checkEveryMs: 1_000,
};

/**
 * What a URL prefix accepts: bearer tokens, or a verified client certificate (mutual TLS) that
 * `peer` accepts. A request whose path matches no prefix is refused.
 */
export type Credential = { prefix: string; tokens: () => readonly string[] } | { prefix: string; peer: (p: PeerIdentity) => boolean };

export interface ApiServerOptions {
  credentials: Credential[];
  /** Serve HTTPS (the only way Ferry serves, outside unit tests of this base). */
  https?: ServerTlsOptions;
  /** Requests that need no credential at all (the route checks whatever it needs itself). */
  isPublic?(method: string, path: string): boolean;
  cookieAuth?: CookieAuth;
  logger?: boolean;
  limits?: Partial<HttpLimits>;
}

export interface CookieAuth {
  /** Path prefixes where a valid session cookie is accepted instead of the bearer token. */
  prefixes: readonly string[];
  cookie: string;
  valid(sessionId: string): boolean;
  /**
   * With the cookie, a request that is not GET/HEAD must carry this header set to `1`: a page
   * on another origin cannot add a custom header without a CORS preflight, which is never granted.
   */
  csrfHeader: string;
}

const SAFE_METHODS = new Set(['GET', 'HEAD']);

/** The value of cookie `name` in a Cookie header, if present. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of header?.split(';') ?? []) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

const peers = new WeakMap<object, PeerIdentity | null>();

/** The verified certificate the request's connection presented (mutual TLS), if any. */
export function requestPeer(req: FastifyRequest): PeerIdentity | undefined {
  const socket = req.raw.socket;
  let p = peers.get(socket);
  if (p === undefined) peers.set(socket, (p = verifiedPeer(socket) ?? null));
  return p ?? undefined;
}

function accepts(rule: Credential, req: FastifyRequest): boolean {
  if ('tokens' in rule) return bearerMatches(req.headers.authorization, rule.tokens());
  const peer = requestPeer(req);
  return peer !== undefined && rule.peer(peer);
}

export function createApiServer(opts: ApiServerOptions): FastifyInstance {
  const limits = { ...HTTP_LIMITS, ...opts.limits };
  // The same FastifyInstance type either way: https only changes the underlying server.
  const app = (Fastify as (o: object) => FastifyInstance)({
    ...(opts.https ? { https: opts.https } : {}),
    logger: opts.logger ?? false,
    bodyLimit: MAX_REQUEST_BYTES,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    http: { headersTimeout: limits.headersTimeoutMs, requestTimeout: limits.requestTimeoutMs, connectionsCheckingInterval: limits.checkEveryMs },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false } },
  });

  app.server.maxConnections = limits.maxConnections;

  app.addHook('onRequest', async (req) => {
    const path = req.url.split('?')[0] ?? '';
    if (opts.isPublic?.(req.method, path)) return;
    const rule = opts.credentials.find((c) => path.startsWith(c.prefix));
    if (rule && accepts(rule, req)) return;
    const ca = opts.cookieAuth;
    const session = ca && ca.prefixes.some((p) => path.startsWith(p)) ? readCookie(req.headers.cookie, ca.cookie) : undefined;
    if (ca && session !== undefined && ca.valid(session)) {
      if (SAFE_METHODS.has(req.method) || req.headers[ca.csrfHeader] === '1') return;
      throw new FerryError('FORBIDDEN', `a ${req.method} with the session cookie must carry the header ${ca.csrfHeader}: 1`);
    }
    throw new FerryError('UNAUTHORIZED', rule && !('tokens' in rule) ? 'this path needs a client certificate from the cluster CA for a component allowed here' : 'missing or invalid credential (Authorization: Bearer <token>)');
  });

  app.setErrorHandler((err: FastifyError | FerryError, _req, reply) => {
    const ferr = toFerryError(err);
    if (ferr.code === 'INTERNAL') app.log.error(err);
    void reply.status(ferr.httpStatus).send(ferr.toBody());
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send(new FerryError('NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`).toBody());
  });
  return app;
}

function toFerryError(err: FastifyError | FerryError): FerryError {
  if (err instanceof FerryError) return err;
  const fe = err as FastifyError;
  if (fe.validation && fe.validation.length > 0) {
    const v = mostTelling(fe.validation);
    const params = v.params as { additionalProperty?: string; missingProperty?: string };
    const base = `${fe.validationContext ?? 'body'}${v.instancePath.replace(/\//g, '.')}`;
    const field = params.additionalProperty
      ? `${base}.${params.additionalProperty}`
      : params.missingProperty
        ? `${base}.${params.missingProperty}`
        : base;
    const why = params.additionalProperty ? 'is not a known field' : (v.message ?? 'is invalid');
    return new FerryError('INVALID_REQUEST', `${field} ${why}`, { field, cause: err });
  }
  if (fe.statusCode === 413) return new FerryError('INVALID_REQUEST', `request body larger than ${MAX_REQUEST_BYTES} bytes`, { cause: err });
  if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new FerryError('INVALID_REQUEST', fe.message, { cause: err });
  }
  return new FerryError('INTERNAL', fe.message ?? String(err), { cause: err });
}

type ValidationError = NonNullable<FastifyError['validation']>[number];

/**
 * The error to report. For a union (a NIC is `user` or `bridged`) Ajv lists each branch's
 * failure and then `anyOf`: a branch that failed only on its constant (`network`) is the wrong
 * branch, not the user's mistake, so the first other error is the one that says what is wrong.
 */
function mostTelling(errors: readonly ValidationError[]): ValidationError {
  return errors.find((e) => e.keyword !== 'const' && e.keyword !== 'anyOf') ?? errors[0]!;
}
