// The console's routes: login, logout and the session check (they need no credential: login
// checks the token itself), the app shell and its assets (public: they hold no data). Which
// requests are public is decided here, once, for the shared server's `isPublic` hook.
import type { FastifyInstance, FastifyReply } from 'fastify';
import { CONSOLE_PREFIX, LoginRequest, SESSION_COOKIE, SessionInfo } from '../../contracts/web-console.js';
import { FerryError } from '../../contracts/errors.js';
import { readCookie } from '../../contracts/http-server.js';
import { errorReplies } from '../api/schemas.js';
import { CLEARED_COOKIE, sessionCookie, type Sessions } from './sessions.js';
import { ASSETS_PREFIX, StaticFiles, type ConsoleFiles, type FileReply } from './static.js';

const LOGIN = `${CONSOLE_PREFIX}/login`;
const LOGOUT = `${CONSOLE_PREFIX}/logout`;
const SESSION = `${CONSOLE_PREFIX}/session`;

export function isConsolePublic(method: string, path: string): boolean {
  const read = method === 'GET' || method === 'HEAD';
  if (read) return path === '/' || path === SESSION || path.startsWith(ASSETS_PREFIX);
  return method === 'POST' && (path === LOGIN || path === LOGOUT);
}

export interface ConsoleOptions extends ConsoleFiles {
  sessions: Sessions;
  adminToken: string;
}

const NoContent = { type: 'null', description: 'No content' } as const;

export function consoleRoutes(app: FastifyInstance, opts: ConsoleOptions): void {
  const { sessions } = opts;
  const files = new StaticFiles(opts);
  const sessionOf = (cookie: string | undefined): string | undefined => readCookie(cookie, SESSION_COOKIE);
  const tags = ['console'];

  app.post<{ Body: LoginRequest }>(
    LOGIN,
    { schema: { tags, security: [], summary: 'Log the console in with the admin token: sets the session cookie (rate-limited: 429 after repeated failures)', body: LoginRequest, response: { 204: NoContent, ...errorReplies } } },
    async (req, reply) => {
      const r = sessions.login(req.ip, req.body.token, opts.adminToken);
      if (r.ok) return reply.status(204).header('set-cookie', sessionCookie(r.id, r.expiresAt - Date.now())).send();
      if (r.retryAfterMs === undefined) throw new FerryError('UNAUTHORIZED', 'wrong token');
      const secs = Math.ceil(r.retryAfterMs / 1000);
      return reply.status(429).header('retry-after', String(secs)).send({ error: { code: 'RATE_LIMITED', message: `too many failed logins: try again in ${secs} s` } });
    },
  );

  app.post(
    LOGOUT,
    { schema: { tags, security: [], summary: 'Forget the console session and clear its cookie', response: { 204: NoContent, ...errorReplies } } },
    async (req, reply) => {
      const id = sessionOf(req.headers.cookie);
      if (id !== undefined) sessions.logout(id);
      return reply.status(204).header('set-cookie', CLEARED_COOKIE).send();
    },
  );

  app.get(
    SESSION,
    { schema: { tags, security: [], summary: 'When the console session of this cookie expires (401 without a live one)', response: { 200: SessionInfo, ...errorReplies } } },
    async (req) => {
      const id = sessionOf(req.headers.cookie);
      const at = id === undefined ? undefined : sessions.expiresAt(id);
      if (at === undefined) throw new FerryError('UNAUTHORIZED', 'no console session: log in with POST /console/login');
      return { expiresAt: new Date(at).toISOString() };
    },
  );

  app.get('/', { schema: { hide: true } }, async (_req, reply) => send(reply, await files.index()));
  app.get<{ Params: { kind: string; '*': string } }>(`${ASSETS_PREFIX}:kind/*`, { schema: { hide: true } }, async (req, reply) =>
    send(reply, await files.asset(req.params.kind, req.params['*'], req.headers['if-none-match'])),
  );
}

function send(reply: FastifyReply, r: FileReply): FastifyReply {
  if ('message' in r && r.status === 404) throw new FerryError('NOT_FOUND', r.message);
  if ('message' in r) return reply.status(503).header('content-type', 'text/plain; charset=utf-8').send(`${r.message}\n`);
  void reply.status(r.status).headers(r.headers);
  return reply.send(r.status === 200 ? r.body : undefined);
}
