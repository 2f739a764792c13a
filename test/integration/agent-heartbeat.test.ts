// The agent pushes heartbeats to the controller with the cluster secret, and keeps going
// (without crashing) while the controller is unreachable.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApiServer, INTERNAL_PREFIX, type AgentHeartbeat } from '../../src/contracts/index.js';
import { runAgent, type RunningAgent } from '../../src/agent/index.js';
import { removeAgentDataDir } from '../../src/testing/agent.js';
import { waitFor } from '../../src/testing/wait-for.js';

const dataDir = mkdtempSync(join(tmpdir(), 'ferry-agent-hb-'));
let agent: RunningAgent | undefined;
// Only used to find a free port, then closed, so the agent's first heartbeats fail.
const controller = createApiServer({ credentials: [{ prefix: INTERNAL_PREFIX, tokens: () => ['cluster-secret'] }] });
const received: AgentHeartbeat[] = [];

after(async () => {
  await agent?.close();
  await controller.close();
  await removeAgentDataDir(dataDir);
});

test('heartbeats carry host info and VMs, authenticated with the cluster secret', async () => {
  // Start the agent before the controller listens: failed heartbeats must not hurt it.
  const addr = await controller.listen({ host: '127.0.0.1', port: 0 });
  const url = addr.replace('[::1]', '127.0.0.1');
  await controller.close();
  const port = new URL(url).port;
  agent = await runAgent({ name: 'hb1', site: 'dr', dataDir, secret: 'cluster-secret', accel: 'tcg', controllerUrl: url, heartbeatIntervalMs: 100 });
  await new Promise((r) => setTimeout(r, 300));
  const live = createApiServer({ credentials: [{ prefix: INTERNAL_PREFIX, tokens: () => ['cluster-secret'] }] });
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
