// The cluster CA of controllers that share a PostgreSQL: kept in the database (ferry_ca), so a
// host certificate issued by one leader chains to the same CA as every other's. The first
// controller to start creates it; a race between two is settled by the primary key, and both
// read back the one that won. Whoever can read the database can read the CA key: grant it only
// to the controllers (docs/architecture.md).
import type pg from 'pg';
import { createCa, type KeyAndCert } from '../../pki/index.js';
import { CA_COMMON_NAME } from '../ca.js';

export async function loadOrCreateSharedCa(pool: pg.Pool): Promise<KeyAndCert> {
  const read = async (): Promise<KeyAndCert | undefined> => {
    const r = await pool.query<{ key_pem: string; cert_pem: string }>('SELECT key_pem, cert_pem FROM ferry_ca WHERE id = 1');
    const row = r.rows[0];
    return row ? { keyPem: row.key_pem, certPem: row.cert_pem } : undefined;
  };
  const existing = await read();
  if (existing) return existing;
  const ca = await createCa(CA_COMMON_NAME);
  await pool.query('INSERT INTO ferry_ca (id, key_pem, cert_pem) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING', [ca.keyPem, ca.certPem]);
  return (await read())!;
}
