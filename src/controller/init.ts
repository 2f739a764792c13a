// `ferry controller init`: the cluster CA (in the data dir, or shared in PostgreSQL) and join
// tokens, made before any controller runs. With PostgreSQL a token is written straight to the
// database, where the next controller to lead loads it; once controllers run, mint tokens through
// the API instead (`ferry host token`), since the leader works on its own copy of the tables.
import { mkdirSync } from 'node:fs';
import { certFingerprint, type KeyAndCert } from '../pki/index.js';
import { loadOrCreateCa } from './ca.js';
import { JoinTokensRepo } from './enrolment/tokens.js';
import { openPool } from './store/pg-pool.js';
import { loadOrCreateSharedCa } from './store/shared-ca.js';
import { openSqliteStore } from './store/state-store.js';
import { openDb } from './db.js';

export interface InitResult {
  caPem: string;
  caFingerprint: string;
  tokens: { token: string; expiresAt: string }[];
}

export async function initController(opts: { dataDir: string; db?: string; tokens?: number; tokenTtlMs?: number }): Promise<InitResult> {
  mkdirSync(opts.dataDir, { recursive: true });
  const count = opts.tokens ?? 1;
  if (opts.db) {
    const pool = await openPool(opts.db);
    try {
      const ca = await loadOrCreateSharedCa(pool);
      const tokens = mint(ca, count, opts.tokenTtlMs);
      for (const t of tokens.rows) await pool.query('INSERT INTO join_tokens (hash, created_at, expires_at) VALUES ($1, $2, $3)', [t.hash, t.createdAt, t.expiresAt]);
      return { caPem: ca.certPem, caFingerprint: certFingerprint(ca.certPem), tokens: tokens.shown };
    } finally {
      await pool.end();
    }
  }
  const ca = await loadOrCreateCa(opts.dataDir);
  const store = openSqliteStore(opts.dataDir);
  try {
    const repo = new JoinTokensRepo(store.db);
    const fp = certFingerprint(ca.certPem);
    const tokens = Array.from({ length: count }, () => repo.mint(fp, opts.tokenTtlMs));
    return { caPem: ca.certPem, caFingerprint: fp, tokens };
  } finally {
    await store.close();
  }
}

/** Tokens minted on a scratch copy of the table, to be written to PostgreSQL as rows. */
function mint(ca: KeyAndCert, count: number, ttlMs?: number) {
  const db = openDb(':memory:');
  try {
    const repo = new JoinTokensRepo(db);
    const shown = Array.from({ length: count }, () => repo.mint(certFingerprint(ca.certPem), ttlMs));
    const rows = db.prepare('SELECT hash, created_at AS createdAt, expires_at AS expiresAt FROM join_tokens').all() as { hash: string; createdAt: string; expiresAt: string }[];
    return { shown, rows };
  } finally {
    db.close();
  }
}
