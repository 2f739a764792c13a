import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { certCommonName } from '../pki/index.js';
import { CA_COMMON_NAME, loadOrCreateCa } from './ca.js';

describe('cluster CA', () => {
  it('is created once with a private key file, then loaded', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-ca-'));
    try {
      const first = await loadOrCreateCa(dir);
      assert.equal(certCommonName(first.certPem), CA_COMMON_NAME);
      assert.equal(statSync(join(dir, 'ca', 'key.pem')).mode & 0o777, 0o600);
      const again = await loadOrCreateCa(dir);
      assert.deepEqual(again, first);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
