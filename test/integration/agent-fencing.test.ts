// Self-fencing with real QEMU: a stand-in controller answers the agent's heartbeats with a lease
// on one VM, then goes silent. Within the lease the agent must stop that VM itself (the real
// controller would restart it elsewhere only after the lease), and leave the other VM alone.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { runAgent, type RunningAgent } from '../../src/agent/index.js';
import type { ApiClient } from '../../src/contracts/index.js';
import { httpsServerOptions } from '../../src/pki/index.js';
import { TestPki } from '../../src/testing/pki.js';
import { P, demoSpec, killQemus, pidAlive, statusOf, waitSeqAbove } from '../../src/testing/agent.js';
import { waitFor } from '../../src/testing/wait-for.js';

const pki = new TestPki();
const LEASE_MS = 2000;
const dataDir = mkdtempSync(join(tmpdir(), 'ferry-fence-'));
let server: Server;
let answering = true;
let agent: RunningAgent;
let c: ApiClient;

before(async () => {
  // The controller's stand-in: HTTPS with a controller's certificate, and the host's required.
  server = createServer(httpsServerOptions(await pki.identity('ferry-controller', 'controller'), true), (req, res) => {
    req.resume();
    if ((req.socket as TLSSocket).getPeerCertificate().subject?.CN !== 'hf') return void res.writeHead(401).end();
    if (!answering) return; // silent: the request hangs until the agent's own timeout
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ intervalMs: 200, fence: { leaseMs: LEASE_MS, vms: ['leased'] }, fenceKey: 'guards-key-for-tests' }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  agent = await runAgent({ name: 'hf', site: 'main', dataDir, tls: await pki.identity('hf'), accel: 'tcg', controllerUrl: `https://127.0.0.1:${port}`, heartbeatIntervalMs: 200 });
  c = await pki.agentClient(agent.url, 'hf');
});

after(async () => {
  killQemus(dataDir);
  await agent?.close();
  server.closeAllConnections();
  server.close();
  rmSync(dataDir, { recursive: true, force: true });
});

test('cut off from the controller, the agent stops the leased VM and only that one', async () => {
  for (const name of ['leased', 'other']) {
    await c.post(`${P}/vms`, demoSpec(name));
    await c.post(`${P}/vms/${name}/start`);
    await waitSeqAbove(c, name, 1);
  }
  const leasedPid = (await statusOf(c, 'leased')).pid!;
  answering = false;
  const cutAt = performance.now();
  await waitFor('the leased VM fenced', async () => ((await statusOf(c, 'leased')).state === 'stopped' ? true : undefined), { timeoutMs: 30_000, everyMs: 100 });
  console.log(`fenced ${Math.round(performance.now() - cutAt)} ms after the controller went silent (lease ${LEASE_MS} ms)`);
  assert.equal(pidAlive(leasedPid), false, 'its QEMU is gone');
  assert.match((await statusOf(c, 'leased')).error ?? '', /fenced/);
  const other = await statusOf(c, 'other');
  assert.equal(other.state, 'running');
  await waitSeqAbove(c, 'other', 3);
});
