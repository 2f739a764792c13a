// Host certificates for the migration data plane: an agent's heartbeat (cluster secret) carries
// a CSR for its own name; the controller answers with a certificate signed by the cluster CA,
// keeps it, gives the same one for the same CSR, a new one for a new CSR, and refuses a CSR
// made out to another host. The CA survives a controller restart.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runController, type RunningController } from '../../src/controller/index.js';
import { call, beatAs } from '../../src/testing/controller/client.js';
import { FakeAgent } from '../../src/testing/controller/fake-agent.js';
import { TestPki } from '../../src/testing/pki.js';
import { certCommonName, createKeyAndCsr } from '../../src/pki/index.js';

const ADMIN = 'admin-token-for-tests';
const pki = new TestPki();

describe('controller: host certificates from heartbeats', () => {
  let dir: string;
  let ctl: RunningController;
  const agent = new FakeAgent('h1', pki);
  const beat = () => beatAs(ctl.url, ADMIN, pki, agent);
  const start = async () => (ctl = await runController({ dataDir: dir, adminToken: ADMIN, hostDownAfterMs: 600_000 }));

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-ctl-pki-'));
    await pki.seed(dir);
    await agent.listen();
    await start();
  });
  after(async () => {
    await ctl.close();
    await agent.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('signs the CSR for the host name and keeps the certificate', async () => {
    const plain = await beat();
    assert.equal(plain.status, 200);
    assert.equal(plain.body.certificate, undefined);
    assert.match(plain.body.caCertificate, /BEGIN CERTIFICATE/);

    agent.csr = (await createKeyAndCsr('h1')).csrPem;
    const r = await beat();
    assert.equal(r.status, 200, r.text);
    assert.equal(certCommonName(r.body.certificate), 'h1');
    const cert = new X509Certificate(r.body.certificate);
    assert.ok(cert.verify(new X509Certificate(r.body.caCertificate).publicKey), 'signed by the cluster CA');
    assert.equal((await beat()).body.certificate, r.body.certificate, 'same CSR, same certificate');

    agent.csr = (await createKeyAndCsr('h1')).csrPem;
    const renewed = await beat();
    assert.notEqual(renewed.body.certificate, r.body.certificate, 'a new CSR gets a new certificate');

    await ctl.close();
    await start();
    const afterRestart = await beat();
    assert.equal(afterRestart.body.caCertificate, r.body.caCertificate, 'the CA survives a restart');
    assert.equal(afterRestart.body.certificate, renewed.body.certificate);
  });

  it('refuses a CSR made out to another host (and renews the lease all the same: issue 14)', async () => {
    agent.csr = (await createKeyAndCsr('h2')).csrPem;
    const r = await beat();
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.certificate, undefined, 'nothing signed for h2');
    assert.equal(r.body.csrRefused.field, 'body.csr');
    assert.match(r.body.csrRefused.message, /h2/);
    agent.csr = undefined;
  });
});
