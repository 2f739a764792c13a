// A guest on a user-mode NIC cannot reach the host's own services (issue 16): with it, the
// gateway 10.0.2.2 is the host's loopback — other VMs' forwards, the agent, the controller.
// The demo guest's `dial:PORT` workload tries a connection to the gateway's PORT every second;
// a listener on the host's 127.0.0.1:PORT must never see one, while the VM's own forwarded
// port still answers from the host. Needs a demo guest with `dial` (guest/build.sh).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../../src/contracts/index.js';
import { lastHeartbeat } from '../../src/contracts/heartbeat.js';
import { runAgent, type RunningAgent } from '../../src/agent/index.js';
import { P, consoleOf, demoSpec, killQemus, statusOf } from '../../src/testing/agent.js';
import { waitFor } from '../../src/testing/wait-for.js';
import { TestPki } from '../../src/testing/pki.js';

const pki = new TestPki();

let dataDir: string;
let agent: RunningAgent;
let c: ApiClient;
let hostService: net.Server;
let accepted = 0;

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'ferry-guest-iso-'));
  agent = await runAgent({ name: 'h1', site: 'main', dataDir, tls: await pki.identity('h1'), accel: 'tcg' });
  c = (await pki.agentClient(agent.url, 'h1'));
  // A service of the host, on loopback only: what a guest must not reach.
  hostService = net.createServer((s) => {
    accepted++;
    s.destroy();
  });
  hostService.listen(0, '127.0.0.1');
  await once(hostService, 'listening');
});

after(async () => {
  killQemus(dataDir);
  await agent?.close();
  hostService?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

test('a guest cannot connect to the host\'s loopback services; its forwarded port still answers', async () => {
  const port = (hostService.address() as net.AddressInfo).port;
  await c.post(`${P}/vms`, demoSpec('iso', { workload: `http,dial:${port}`, nics: [{ network: 'user', forwardPorts: [80] }] }));
  await c.post(`${P}/vms/iso/start`);
  // At least five attempts, so a pass is not the guest never having tried.
  const hb = await waitFor('five dial attempts in the heartbeat', async () => {
    const h = lastHeartbeat(await consoleOf(c, 'iso'));
    assert.doesNotMatch(h?.fields.err ?? '', /unknown-workload/, 'this demo guest has no dial workload: rebuild it with guest/build.sh');
    const tries = Number(h?.fields.dial_ok ?? 0) + Number(h?.fields.dial_failed ?? 0);
    return tries >= 5 ? h : undefined;
  }, { timeoutMs: 120_000 });
  assert.equal(hb!.fields.dial_ok, '0', `the guest reached the host: ${JSON.stringify(hb!.fields)}`);
  assert.equal(accepted, 0, 'the host service saw a connection from the guest');

  const fwd = (await statusOf(c, 'iso')).endpoints.find((e) => e.guestPort === 80);
  assert.ok(fwd, 'the forward of guest port 80 is listed');
  const health = await waitFor('the forwarded http port', async () => {
    const r = await fetch(`http://${fwd.host}:${fwd.port}/health`, { signal: AbortSignal.timeout(5000) });
    return r.ok ? r.text() : undefined;
  });
  assert.equal(health.trim(), 'ok');
});
