// Console sessions (contract: src/contracts/web-console.ts). A login with the admin token gets a random
// session id, kept only in this process's memory: a restart logs everyone out, and nothing
// about a session is ever written to disk. Sessions expire SESSION_TTL_MS after login; at most
// MAX_SESSIONS live at once (the oldest is dropped for a new one, so logging in never fails for
// lack of room).
import { randomBytes } from 'node:crypto';
import { bearerMatches } from '../../contracts/auth.js';
import { SESSION_COOKIE, SESSION_TTL_MS } from '../../contracts/web-console.js';
import { LoginLimiter } from './rate-limit.js';

export const MAX_SESSIONS = 256;

export type LoginResult = { ok: true; id: string; expiresAt: number } | { ok: false; retryAfterMs?: number };

export interface SessionsOptions {
  ttlMs?: number;
  maxSessions?: number;
  /** Wall clock (ms since the epoch), for expiry and `expiresAt`. */
  now?: () => number;
  limiter?: LoginLimiter;
}

export class Sessions {
  /** Session id -> expiry (epoch ms), in order of creation. */
  private readonly live = new Map<string, number>();
  private readonly ttlMs: number;
  private readonly max: number;
  private readonly now: () => number;
  private readonly limiter: LoginLimiter;

  constructor(opts: SessionsOptions = {}) {
    this.ttlMs = opts.ttlMs ?? SESSION_TTL_MS;
    this.max = opts.maxSessions ?? MAX_SESSIONS;
    this.now = opts.now ?? Date.now;
    this.limiter = opts.limiter ?? new LoginLimiter();
  }

  get size(): number {
    this.sweep();
    return this.live.size;
  }

  /** Checks `token` against the admin token (constant time) unless `address` must wait first. */
  login(address: string, token: string, adminToken: string): LoginResult {
    const retryAfterMs = this.limiter.waitMs(address);
    if (retryAfterMs > 0) return { ok: false, retryAfterMs };
    if (!bearerMatches(`Bearer ${token}`, [adminToken])) {
      this.limiter.failed(address);
      return { ok: false };
    }
    this.sweep();
    while (this.live.size >= this.max) this.live.delete(this.live.keys().next().value!);
    const id = randomBytes(32).toString('base64url');
    const expiresAt = this.now() + this.ttlMs;
    this.live.set(id, expiresAt);
    return { ok: true, id, expiresAt };
  }

  /** Expiry (epoch ms) of a live session, else undefined. */
  expiresAt(id: string): number | undefined {
    const at = this.live.get(id);
    if (at === undefined) return undefined;
    if (at > this.now()) return at;
    this.live.delete(id);
    return undefined;
  }

  valid(id: string): boolean {
    return this.expiresAt(id) !== undefined;
  }

  logout(id: string): void {
    this.live.delete(id);
  }

  private sweep(): void {
    const now = this.now();
    for (const [id, at] of this.live) if (at <= now) this.live.delete(id);
  }
}

// Secure: the controller serves HTTPS only, so the cookie never travels in the clear. HttpOnly
// keeps it from scripts, SameSite=Strict from other sites' requests.
const COOKIE_ATTRS = 'Secure; HttpOnly; SameSite=Strict; Path=/';

export function sessionCookie(id: string, maxAgeMs: number): string {
  return `${SESSION_COOKIE}=${id}; ${COOKIE_ATTRS}; Max-Age=${Math.max(0, Math.floor(maxAgeMs / 1000))}`;
}

export const CLEARED_COOKIE = `${SESSION_COOKIE}=; ${COOKIE_ATTRS}; Max-Age=0`;
