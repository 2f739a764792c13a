// Issue 16's security properties with a real controller and a real agent that joins it with a
// one-time token (no test PKI: the agent makes its key, the controller's CA signs it): the token
// works once; a heartbeat naming another host is refused; the agent's API takes only a
// controller's certificate; neither speaks plain HTTP; a spec naming /etc/shadow is a 400 naming
// the field, from the controller itself; a removed host is refused at once.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runAgent, type RunningAgent } from '../../src/agent/index.js';
import { loadIdentity } from '../../src/agent/data-plane/tls-identity.js';
import { runController, type RunningController } from '../../src/controller/index.js';
import { AGENT_API_PREFIX, ApiClient, JOIN_PATH, type Host } from '../../src/contracts/index.js';
import { certInfo, createKeyAndCsr, httpsDispatcher } from '../../src/pki/index.js';
import { call } from '../../src/testing/controller/client.js';
import { trustCa } from '../../src/testing/pki.js';
import { waitFor } from '../../src/testing/wait-for.js';
import { Agent } from 'undici';
import { FERRY_VERSION } from '../../src/contracts/version.js';

const ADMIN = 'admin-token-for-security-tests';

/** Trusts (in this process's fetch) the CA the controller at `url` publishes: fetched unverified, as the CA is public. */
async function trustCaOf(url: string): Promise<void> {
  const insecure = new Agent({ connect: { rejectUnauthorized: false } });
  try {
    trustCa((await new ApiClient(url, '', { dispatcher: () => insecure }).get<{ caCertificate: string }>('/api/v1/join/ca')).caCertificate);
  } finally {
    await insecure.close();
  }
}

/** What a plain-HTTP request to `url`'s host and port gets. */
function plainHttp(url: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const req = request({ hostname, port, path: '/', timeout: 5000 }, (res) => resolve(`answered ${res.statusCode}`));
    req.on('error', (err) => resolve(`refused (${(err as NodeJS.ErrnoException).code ?? err.message})`));
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

describe('security: a real agent joined to a real controller', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-security-'));
  const agentDir = join(dir, 'h1');
  let ctl: RunningController;
  let agent: RunningAgent;
  let token: string;

  before(async () => {
    ctl = await runController({ dataDir: join(dir, 'controller'), adminToken: ADMIN, hostDownAfterMs: 60_000 });
    // The CLI pins the CA from cluster.json; this test's fetch pins it from the join endpoint.
    await trustCaOf(ctl.url);
    token = (await call(ctl.url, 'POST', '/api/v1/hosts/tokens', { token: ADMIN, body: {} })).body.token;
    agent = await runAgent({ name: 'h1', site: 'main', dataDir: agentDir, accel: 'tcg', controllerUrl: ctl.url, joinToken: token, heartbeatIntervalMs: 200 });
    await waitFor('h1 up', async () => ((await call(ctl.url, 'GET', '/api/v1/hosts', { token: ADMIN })).body as Host[]).find((h) => h.name === 'h1' && h.state === 'up'), { timeoutMs: 20_000 });
  });
  after(async () => {
    await agent?.close();
    await ctl?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a stolen join token works once: the agent used it, a thief is refused', async () => {
    const { csrPem } = await createKeyAndCsr('thief');
    const r = await call(ctl.url, 'POST', JOIN_PATH, { body: { token, name: 'thief', csr: csrPem } });
    assert.equal(r.status, 401, r.text);
    assert.ok(!((await call(ctl.url, 'GET', '/api/v1/hosts', { token: ADMIN })).body as Host[]).some((h) => h.name === 'thief'));
  });

  it("a heartbeat naming another host is refused, even with the agent's own certificate", async () => {
    const id = loadIdentity(agentDir)!;
    assert.ok(id, 'the agent kept its identity in its data dir');
    const asH1 = httpsDispatcher(id, { role: 'controller' });
    try {
      const info = { ...((await call(ctl.url, 'GET', '/api/v1/hosts', { token: ADMIN })).body as Host[])[0]!, name: 'h2' };
      const r = await call(ctl.url, 'POST', '/internal/v1/heartbeat', {
        body: { host: { name: 'h2', site: info.site, url: info.url, cpus: info.cpus, memoryMiB: info.memoryMiB, accel: info.accel, qemuVersion: info.qemuVersion, agentVersion: FERRY_VERSION, pid: 1, loadAvg1: 0, memoryFreeMiB: 1 }, vms: [] },
        dispatcher: asH1,
      });
      assert.equal(r.status, 403, r.text);
      assert.equal(r.body.error.field, 'body.host.name');
      // The agent's API refuses a host certificate (its own included): only a controller may call it.
      const asHostToAgent = httpsDispatcher(id, { role: 'host', name: 'h1' });
      await assert.rejects(new ApiClient(agent.url, '', { dispatcher: () => asHostToAgent }).get(`${AGENT_API_PREFIX}/vms`), /UNAUTHORIZED|client certificate/);
      await asHostToAgent.close();
    } finally {
      await asH1.close();
    }
  });

  it('plain HTTP is refused by the controller and by the agent', async () => {
    assert.match(await plainHttp(ctl.url), /^refused/);
    assert.match(await plainHttp(agent.url), /^refused/);
    assert.match(ctl.url, /^https:/);
    assert.match(agent.url, /^https:/);
  });

  it('a spec naming /etc/shadow is a 400 naming the field, from the controller', async () => {
    const r = await call(ctl.url, 'POST', '/api/v1/vms', { token: ADMIN, body: { name: 'leak', memoryMiB: 64, boot: { kind: 'kernel', kernel: '/etc/shadow' } } });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.body.error.field, 'body.boot.kernel');
    assert.match(r.body.error.message, /host h1 allows/);
    const disk = await call(ctl.url, 'POST', '/api/v1/vms', { token: ADMIN, body: { name: 'leak', memoryMiB: 64, disks: [{ image: '/etc/../etc/shadow' }] } });
    assert.equal(disk.status, 400, disk.text);
    assert.equal(disk.body.error.field, 'body.disks.0.image');
    assert.ok(!((await call(ctl.url, 'GET', '/api/v1/vms', { token: ADMIN })).body as { name: string }[]).some((v) => v.name === 'leak'));
  });

  it('a removed host is refused at once: its heartbeats no longer count', async () => {
    const removed = await call(ctl.url, 'DELETE', '/api/v1/hosts/h1', { token: ADMIN });
    assert.equal(removed.status, 200, removed.text);
    assert.equal(removed.body.revoked, true);
    const asH1 = httpsDispatcher(loadIdentity(agentDir)!, { role: 'controller' });
    try {
      const r = await call(ctl.url, 'POST', '/internal/v1/heartbeat', { body: {}, dispatcher: asH1 });
      assert.equal(r.status, 401, r.text);
    } finally {
      await asH1.close();
    }
    // The agent keeps beating; none registers it again.
    await new Promise((r) => setTimeout(r, 1000));
    assert.ok(!((await call(ctl.url, 'GET', '/api/v1/hosts', { token: ADMIN })).body as Host[]).some((h) => h.name === 'h1'));
  });
});


describe('security: renewal with a real agent', () => {
  it('a short-lived certificate is renewed over mutual TLS for the same key, and the agent keeps working', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-renew-'));
    const agentDir = join(dir, 'h1');
    // Short enough that the agent's first heartbeats are already due to renew (two thirds in).
    const ctl = await runController({ dataDir: join(dir, 'controller'), adminToken: ADMIN, hostDownAfterMs: 60_000, hostCertLifetimeMs: 60_000 });
    let agent: RunningAgent | undefined;
    try {
      await trustCaOf(ctl.url);
      const joinToken = (await call(ctl.url, 'POST', '/api/v1/hosts/tokens', { token: ADMIN, body: {} })).body.token as string;
      agent = await runAgent({ name: 'h1', site: 'main', dataDir: agentDir, accel: 'tcg', controllerUrl: ctl.url, joinToken, heartbeatIntervalMs: 200 });
      const joined = loadIdentity(agentDir)!;
      const renewed = await waitFor('a renewed certificate in the data dir', async () => {
        const now = loadIdentity(agentDir)!;
        return now.certPem !== joined.certPem ? now : undefined;
      }, { timeoutMs: 20_000 });
      assert.equal(renewed.keyPem, joined.keyPem, 'the key stays');
      assert.equal(certInfo(renewed.certPem).keySha256, certInfo(joined.certPem).keySha256);
      assert.notEqual(certInfo(renewed.certPem).serial, certInfo(joined.certPem).serial);
      assert.equal(renewed.caPem, joined.caPem, 'the CA pinned at join stays');
      // Still the host: its heartbeats keep it up.
      await waitFor('h1 up', async () => ((await call(ctl.url, 'GET', '/api/v1/hosts', { token: ADMIN })).body as Host[]).find((h) => h.name === 'h1' && h.state === 'up'), { timeoutMs: 10_000 });
    } finally {
      await agent?.close();
      await ctl.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
