// Join tokens: `<secret>.<sha256 of the CA certificate>`. The secret is 256 random bits and only
// its hash is stored (join_tokens); the fingerprint lets a joining host check, before it sends
// anything, that it talks to this cluster's CA (discovery pinned by the token, as kubeadm does).
// A token is spent by the first join that presents it, in the same statement that checks it.
import { createHash, randomBytes } from 'node:crypto';
import type { Db } from '../db.js';

/** A token nobody used expires after this by default. */
export const JOIN_TOKEN_TTL_MS = 24 * 3_600_000;
const TOKEN_SHAPE = /^([A-Za-z0-9_-]{43})\.([0-9a-f]{64})$/;

export interface ParsedToken {
  secret: string;
  caFingerprint: string;
}

/** The two parts of a token, or undefined if it is not shaped like one. */
export function parseJoinToken(token: string): ParsedToken | undefined {
  const m = TOKEN_SHAPE.exec(token.trim());
  return m ? { secret: m[1]!, caFingerprint: m[2]! } : undefined;
}

const hashOf = (secret: string): string => createHash('sha256').update(secret).digest('hex');

export class JoinTokensRepo {
  private readonly q;
  constructor(db: Db) {
    this.q = {
      insert: db.prepare<[string, string, string]>('INSERT INTO join_tokens (hash, created_at, expires_at) VALUES (?, ?, ?)'),
      spend: db.prepare<[string, string, string, string]>('UPDATE join_tokens SET used_at = ?, used_by = ? WHERE hash = ? AND used_at IS NULL AND expires_at > ?'),
      purge: db.prepare<[string, string]>('DELETE FROM join_tokens WHERE (used_at IS NULL AND expires_at <= ?) OR used_at <= ?'),
    };
  }

  /** A new token; only its hash is kept. */
  mint(caFingerprint: string, ttlMs = JOIN_TOKEN_TTL_MS, now = new Date()): { token: string; expiresAt: string } {
    const secret = randomBytes(32).toString('base64url');
    const expiresAt = new Date(now.getTime() + ttlMs).toISOString();
    this.q.insert.run(hashOf(secret), now.toISOString(), expiresAt);
    return { token: `${secret}.${caFingerprint}`, expiresAt };
  }

  /** Spends the token for `host`: true exactly once per token, and only before it expires. */
  spend(secret: string, host: string, now = new Date()): boolean {
    const at = now.toISOString();
    return this.q.spend.run(at, host, hashOf(secret), at).changes === 1;
  }

  /** Forgets expired tokens and tokens spent before `spentBefore`. */
  purge(now: Date, spentBefore: Date): void {
    this.q.purge.run(now.toISOString(), spentBefore.toISOString());
  }
}
