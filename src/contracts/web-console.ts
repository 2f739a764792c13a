// Web console contracts (issue 6). The controller serves the console and its assets without a
// credential (they hold no data); everything the console shows comes from the REST API and the
// event stream, which need one. A browser cannot put a bearer token on an EventSource, so the
// console logs in once with the cluster's admin token and gets a session cookie:
//
//   POST /console/login   {token}  -> 204, Set-Cookie: ferry_session=…; HttpOnly; SameSite=Strict; Path=/
//                                     401 on a wrong token (rate-limited: the token is the only secret)
//   POST /console/logout            -> 204, the session is forgotten and the cookie cleared
//   GET  /console/session           -> 200 {expiresAt} | 401
//
// The API (/api/v1/*) then accepts either `Authorization: Bearer <admin token>` or the session
// cookie. With the cookie, a request that changes something (POST/PUT/DELETE) must also carry
// the header `x-ferry-console: 1` — a page on another origin cannot add it without CORS, which
// the controller never grants (CSRF defence on top of SameSite=Strict). Sessions live in the
// controller's memory (a restart logs everyone out) and expire after SESSION_TTL_MS.
//
// Static files: GET / (the app shell), GET /console/assets/* (the compiled console and the
// front-end libraries), with a strict Content-Security-Policy (scripts from 'self' only).
import { Type, type Static } from '@sinclair/typebox';
import { HostLoad, VmLoad } from './metrics.js';
import { MigrationRecord } from './migration.js';

export const CONSOLE_PREFIX = '/console';
export const SESSION_COOKIE = 'ferry_session';
export const CONSOLE_HEADER = 'x-ferry-console';
export const SESSION_TTL_MS = 12 * 3_600_000;

export const LoginRequest = Type.Object({ token: Type.String({ minLength: 1, maxLength: 256 }) }, { additionalProperties: false });
export type LoginRequest = Static<typeof LoginRequest>;

export const SessionInfo = Type.Object({ expiresAt: Type.String() });
export type SessionInfo = Static<typeof SessionInfo>;

/**
 * Event `load`, published every LOAD_EVENT_MS while anyone listens: the current load of every
 * host and VM in one message, so live charts need no polling and a VM's numbers changing does
 * not turn into one `vm` event per VM per second.
 */
export const LOAD_EVENT_MS = 2000;
export const LoadEvent = Type.Object({
  type: Type.Literal('load'),
  /** Epoch ms. */
  at: Type.Number(),
  hosts: Type.Record(Type.String(), HostLoad),
  vms: Type.Record(Type.String(), VmLoad),
});
export type LoadEvent = Static<typeof LoadEvent>;

/** Live progress of a migration as it runs (throttled to about one a second), and its end. */
export const MigrationLive = Type.Object({
  /** 0..100, never decreases (the task's progress). */
  percent: Type.Number(),
  rounds: Type.Integer(),
  remainingBytes: Type.Number(),
  dirtyRateBytesPerSec: Type.Number(),
  etaMs: Type.Optional(Type.Number()),
});
export type MigrationLive = Static<typeof MigrationLive>;

export const MigrationEvent = Type.Object({
  type: Type.Literal('migration'),
  record: MigrationRecord,
  /** Absent once the migration has ended (then `record.outcome` says how). */
  live: Type.Optional(MigrationLive),
});
export type MigrationEvent = Static<typeof MigrationEvent>;
