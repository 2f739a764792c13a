// Joining, renewal and removal against a real controller (its HTTPS API, its store): a join token
// is spent by its first use; the certificate is for the host's own key and chains to the cluster
// CA; renewal keeps the key (a CSR for another key or another host is refused, the lease renewed
// all the same: issue 14); a heartbeat naming another host is refused; a removed host is refused
// at once; the controller speaks no plain HTTP; the CA survives a restart.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runController, type RunningController } from '../../src/controller/index.js';
import { beatAs, call, enrolHost } from '../../src/testing/controller/client.js';
import { FakeAgent } from '../../src/testing/controller/fake-agent.js';
import { TestPki } from '../../src/testing/pki.js';
import { certInfo, createCa, createKeyAndCsr, csrForKey } from '../../src/pki/index.js';
import { connect as tlsConnect } from 'node:tls';
import { createHash, createPublicKey } from 'node:crypto';
import { JOIN_PATH } from '../../src/contracts/enrolment.js';

const ADMIN = 'admin-token-for-tests';
const pki = new TestPki();

describe('controller: joining, renewal and removal of hosts', () => {
  let dir: string;
  let ctl: RunningController;
  const h1 = new FakeAgent('h1', pki);
  const h2 = new FakeAgent('h2', pki);
  const start = async () => (ctl = await runController({ dataDir: dir, adminToken: ADMIN, hostDownAfterMs: 600_000 }));
  const mint = async (): Promise<string> => (await call(ctl.url, 'POST', '/api/v1/hosts/tokens', { token: ADMIN, body: {} })).body.token as string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-ctl-join-'));
    await pki.seed(dir);
    for (const a of [h1, h2]) await a.listen();
    await start();
  });
  after(async () => {
    await ctl.close();
    for (const a of [h1, h2]) await a.close();
    await pki.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a join token works once: the first join gets a certificate for its key, a second use is refused', async () => {
    const token = await mint();
    assert.match(token, /^[A-Za-z0-9_-]{43}\.[0-9a-f]{64}$/);
    const { keyPem, csrPem } = await createKeyAndCsr('n1');
    const first = await call(ctl.url, 'POST', JOIN_PATH, { body: { token, name: 'n1', csr: csrPem } });
    assert.equal(first.status, 200, first.text);
    const cert = new X509Certificate(first.body.certificate);
    assert.ok(cert.verify(new X509Certificate(first.body.caCertificate).publicKey), 'signed by the cluster CA');
    const info = certInfo(first.body.certificate);
    assert.equal(info.commonName, 'n1');
    assert.equal(info.role, 'host');
    assert.ok(info.notAfter.getTime() - Date.now() <= 24 * 3_600_000 + 60_000, 'short-lived (a day)');
    const ours = createPublicKey(keyPem).export({ type: 'spki', format: 'der' });
    assert.equal(info.keySha256, createHash('sha256').update(ours).digest('hex'), 'for the key the host made');

    // Stolen and replayed, for the same name or another: refused.
    const stolen = await createKeyAndCsr('thief');
    const again = await call(ctl.url, 'POST', JOIN_PATH, { body: { token, name: 'thief', csr: stolen.csrPem } });
    assert.equal(again.status, 401, again.text);
    assert.match(again.body.error.message, /already used/);
    const bad = await call(ctl.url, 'POST', JOIN_PATH, { body: { token: 'not-a-token', name: 'thief', csr: stolen.csrPem } });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.field, 'body.token');
  });

  it('a name already enrolled with another key cannot be taken over with a fresh token', async () => {
    const other = await createKeyAndCsr('n1');
    const r = await call(ctl.url, 'POST', JOIN_PATH, { body: { token: await mint(), name: 'n1', csr: other.csrPem } });
    assert.equal(r.status, 409, r.text);
  });

  it('heartbeats are the certificate\'s host\'s: naming another host is refused; renewal keeps the key', async () => {
    assert.equal((await beatAs(ctl.url, ADMIN, pki, h1)).status, 200);
    assert.equal((await beatAs(ctl.url, ADMIN, pki, h2)).status, 200);
    // h1's certificate, h2's name in the body.
    const asH1 = await pki.dispatcher('host', 'h1', { role: 'controller' });
    const forged = await call(ctl.url, 'POST', '/internal/v1/heartbeat', { body: h2.heartbeat(), dispatcher: asH1 });
    assert.equal(forged.status, 403, forged.text);
    assert.equal(forged.body.error.field, 'body.host.name');
    // No certificate, or the admin token, is no agent.
    assert.equal((await call(ctl.url, 'POST', '/internal/v1/heartbeat', { body: h1.heartbeat() })).status, 401);
    assert.equal((await call(ctl.url, 'POST', '/internal/v1/heartbeat', { token: ADMIN, body: h1.heartbeat() })).status, 401);

    h1.csr = await csrForKey((await pki.identity('h1')).keyPem, 'h1');
    const renewed = await beatAs(ctl.url, ADMIN, pki, h1);
    assert.equal(renewed.status, 200, renewed.text);
    assert.equal(certInfo(renewed.body.certificate).keySha256, certInfo((await pki.identity('h1')).certPem).keySha256, 'the same key');
    assert.equal((await beatAs(ctl.url, ADMIN, pki, h1)).body.certificate, renewed.body.certificate, 'the same CSR, the same certificate');
    assert.ok(renewed.body.fenceKey, 'the guards\' key comes with the reply');

    h1.csr = (await createKeyAndCsr('h1')).csrPem;
    const otherKey = await beatAs(ctl.url, ADMIN, pki, h1);
    assert.equal(otherKey.status, 200, 'the lease is renewed all the same');
    assert.equal(otherKey.body.certificate, undefined);
    assert.equal(otherKey.body.csrRefused.field, 'body.csr');
    assert.match(otherKey.body.csrRefused.message, /another key/);

    h1.csr = (await createKeyAndCsr('h2')).csrPem;
    const otherHost = await beatAs(ctl.url, ADMIN, pki, h1);
    assert.equal(otherHost.body.certificate, undefined, 'nothing signed for h2');
    h1.csr = undefined;
  });

  it('a removed host is refused at once, and may join again only with a new token', async () => {
    assert.equal((await call(ctl.url, 'DELETE', '/api/v1/hosts/h2', { token: 'wrong' })).status, 401);
    const removed = await call(ctl.url, 'DELETE', '/api/v1/hosts/h2', { token: ADMIN });
    assert.equal(removed.status, 200, removed.text);
    assert.deepEqual(removed.body, { name: 'h2', revoked: true });
    const asH2 = await pki.dispatcher('host', 'h2', { role: 'controller' });
    const refused = await call(ctl.url, 'POST', '/internal/v1/heartbeat', { body: h2.heartbeat(), dispatcher: asH2 });
    assert.equal(refused.status, 401, refused.text);
    assert.ok(!(await call(ctl.url, 'GET', '/api/v1/hosts', { token: ADMIN })).body.some((h: { name: string }) => h.name === 'h2'));
    assert.equal((await enrolHost(ctl.url, ADMIN, pki, 'h2')).status, 200);
    assert.equal((await call(ctl.url, 'POST', '/internal/v1/heartbeat', { body: h2.heartbeat(), dispatcher: asH2 })).status, 200);
  });

  it('speaks HTTPS only: a plain HTTP request gets no answer', async () => {
    const { hostname, port } = new URL(ctl.url);
    const outcome = await new Promise<string>((resolve) => {
      const req = request({ hostname, port, path: '/api/v1/status', headers: { authorization: `Bearer ${ADMIN}` }, timeout: 5000 }, (res) => resolve(`answered ${res.statusCode}`));
      req.on('error', (err) => resolve(`refused: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.end();
    });
    assert.match(outcome, /^refused/);
  });

  it('the CA and the enrolments survive a restart', async () => {
    const before = (await call(ctl.url, 'GET', '/api/v1/join/ca')).body.caCertificate;
    await ctl.close();
    await start();
    assert.equal((await call(ctl.url, 'GET', '/api/v1/join/ca')).body.caCertificate, before);
    const asH1 = await pki.dispatcher('host', 'h1', { role: 'controller' });
    assert.equal((await call(ctl.url, 'POST', '/internal/v1/heartbeat', { body: h1.heartbeat(), dispatcher: asH1 })).status, 200);
  });
});

describe('controller: an operator certificate for browsers', () => {
  it('browsers get the operator\'s certificate; agents, asking for the cluster\'s by name, still get it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-ctl-pubcert-'));
    const own = new TestPki(() => createCa('an organisation CA'));
    const cluster = new TestPki();
    await cluster.seed(dir);
    const web = await own.identity('console.example');
    const ctl = await runController({ dataDir: dir, adminToken: ADMIN, publicCert: { certPem: web.certPem, keyPem: web.keyPem } });
    const h9 = new FakeAgent('h9', cluster);
    try {
      await h9.listen();
      const { hostname, port } = new URL(ctl.url);
      const seen = await new Promise<string | undefined>((resolve, reject) => {
        const s = tlsConnect({ host: hostname, port: Number(port), ca: web.caPem, checkServerIdentity: () => undefined }, () => {
          resolve(s.getPeerCertificate().subject?.CN as string | undefined);
          s.end();
        });
        s.on('error', reject);
      });
      assert.equal(seen, 'console.example');
      assert.equal((await beatAs(ctl.url, ADMIN, cluster, h9)).status, 200);
    } finally {
      await ctl.close();
      await h9.close();
      await Promise.all([own.close(), cluster.close()]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
