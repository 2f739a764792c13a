import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, createKeyAndCsr, certInfo, signCsr } from '../pki/index.js';
import { loadIdentity, storeIdentity } from './data-plane/tls-identity.js';
import { HostIdentity } from './host-identity.js';

test('the identity is stored with an owner-only key and loaded back', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-tls-'));
  try {
    assert.equal(loadIdentity(dir), undefined);
    const ca = await createCa('test-ca');
    const { keyPem, csrPem } = await createKeyAndCsr('h1');
    const id = { keyPem, certPem: await signCsr(ca, csrPem, 'h1'), caPem: ca.certPem };
    storeIdentity(dir, id);
    assert.equal(statSync(join(dir, 'tls', 'key.pem')).mode & 0o077, 0);
    assert.deepEqual(loadIdentity(dir), id);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('renewal: a CSR for the same key once due; only a certificate for this host, key and pinned CA is taken', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-tls-'));
  try {
    const [ca, other] = await Promise.all([createCa('test-ca'), createCa('rogue-ca')]);
    const { keyPem, csrPem } = await createKeyAndCsr('h1');
    const first = await signCsr(ca, csrPem, 'h1', { lifetimeMs: 60 * 60_000 });
    storeIdentity(dir, { keyPem, certPem: first, caPem: ca.certPem });
    const id = new HostIdentity('h1', { keyPem, certPem: first, caPem: ca.certPem }, dir);
    const info = certInfo(first);
    assert.equal(await id.renewalCsr(info.notBefore.getTime() + 1000), undefined, 'not due yet');
    const csr = await id.renewalCsr(info.notAfter.getTime() - 1000);
    assert.ok(csr);
    assert.equal(await id.renewalCsr(info.notAfter.getTime() - 1000), csr, 'the same CSR until answered');

    let changes = 0;
    id.onChange(() => void changes++);
    const otherKey = await createKeyAndCsr('h1');
    assert.equal(await id.accept(await signCsr(ca, otherKey.csrPem, 'h1')), false, 'another key');
    assert.equal(await id.accept(await signCsr(other, csr, 'h1')), false, 'another CA');
    assert.equal(await id.accept(await signCsr(ca, (await createKeyAndCsr('h2')).csrPem, 'h2')), false, 'another host');
    assert.equal(changes, 0);
    const renewed = await signCsr(ca, csr, 'h1', { lifetimeMs: 2 * 60 * 60_000 });
    assert.equal(await id.accept(renewed), true);
    assert.equal(changes, 1);
    assert.equal(id.current.certPem, renewed);
    assert.equal(id.current.caPem, ca.certPem, 'the pinned CA stays');
    assert.equal(certInfo(renewed).keySha256, info.keySha256);
    assert.equal(loadIdentity(dir)?.certPem, renewed, 'stored for the next start');
    await id.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
