import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, signCsr } from '../../pki/index.js';
import { loadOrCreateIdentity, storeCertificate } from './tls-identity.js';

test('key and CSR are made once and kept; the signed certificate is stored and loaded back', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-tls-'));
  try {
    const first = await loadOrCreateIdentity(dir, 'h1');
    assert.equal(first.identity, undefined);
    assert.match(first.csrPem, /BEGIN CERTIFICATE REQUEST/);
    assert.equal(statSync(join(dir, 'tls', 'key.pem')).mode & 0o077, 0);
    const again = await loadOrCreateIdentity(dir, 'h1');
    assert.equal(again.keyPem, first.keyPem);
    assert.equal(again.csrPem, first.csrPem);
    const ca = await createCa('test-ca');
    const cert = await signCsr(ca, first.csrPem, 'h1');
    storeCertificate(dir, cert, ca.certPem);
    const loaded = await loadOrCreateIdentity(dir, 'h1');
    assert.deepEqual(loaded.identity, { keyPem: first.keyPem, certPem: cert, caPem: ca.certPem });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
