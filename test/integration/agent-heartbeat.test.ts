// The agent pushes heartbeats to the controller over mutual TLS (its host certificate), and keeps going
// (without crashing) while the controller is unreachable.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { createApiServer, INTERNAL_PREFIX, type AgentHeartbeat } from '../../src/contracts/index.js';
import { httpsServerOptions, type PeerIdentity } from '../../src/pki/index.js';
import { TestPki } from '../../src/testing/pki.js';
import { runAgent, type RunningAgent } from '../../src/agent/index.js';
import { killQemus } from '../../src/testing/agent.js';
import { waitFor } from '../../src/testing/wait-for.js';

const dataDir = mkdtempSync(join(tmpdir(), 'ferry-agent-hb-'));
let agent: RunningAgent | undefined;
const pki = new TestPki();
// The controller's stand-in: HTTPS with a controller's certificate; the agent's host certificate is its credential.
const asController = async () => ({
  https: httpsServerOptions(await pki.identity('ferry-controller', 'controller'), false),
  credentials: [{ prefix: INTERNAL_PREFIX, peer: (p: PeerIdentity) => p.role === 'host' && p.name === 'hb1' }],
});
// Only used to find a free port, then closed, so the agent's first heartbeats fail.
const controller = createApiServer(await asController());
const received: AgentHeartbeat[] = [];

after(async () => {
  killQemus(dataDir);
  await agent?.close();
  await controller.close();
  rmSync(dataDir, { recursive: true, force: true });
});

test('heartbeats carry host info and VMs, over mutual TLS with the host certificate', async () => {
  // Start the agent before the controller listens: failed heartbeats must not hurt it.
  await controller.listen({ host: '127.0.0.1', port: 0 });
  const port = (controller.server.address() as AddressInfo).port;
  const url = `https://127.0.0.1:${port}`;
  await controller.close();
  agent = await runAgent({ name: 'hb1', site: 'dr', dataDir, tls: await pki.identity('hb1'), accel: 'tcg', controllerUrl: url, heartbeatIntervalMs: 100 });
  await new Promise((r) => setTimeout(r, 300));
  const live = createApiServer(await asController());
  live.post<{ Body: AgentHeartbeat }>(`${INTERNAL_PREFIX}/heartbeat`, async (req) => {
    received.push(req.body);
    return { intervalMs: 200 };
  });
  await live.listen({ host: '127.0.0.1', port: Number(port) });
  try {
    const hb = await waitFor('two heartbeats', () => (received.length >= 2 ? received[1] : undefined), { timeoutMs: 20_000, everyMs: 50 });
    assert.equal(hb.host.name, 'hb1');
    assert.equal(hb.host.site, 'dr');
    assert.equal(hb.host.url, agent.url);
    assert.equal(hb.host.accel, 'tcg');
    assert.equal(hb.host.pid, process.pid);
    assert.deepEqual(hb.vms, []);
  } finally {
    await live.close();
  }
});
