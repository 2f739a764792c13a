// Losing an agent must not lose its VMs: SIGKILL one agent, its host goes down, its QEMU keeps
// running (the heartbeat keeps counting in console.log), and `ferry up` run again restarts the
// agent, which re-attaches. This cluster uses the default accelerator probe (no --accel).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Host, Vm } from '../../src/contracts/controller-api.js';
import { isAlive } from '../../src/cli/process.js';
import { findQemuPids } from '../../src/agent/index.js';
import { TestCluster, lastHeartbeat } from './harness.js';
import { waitFor } from '../../src/testing/wait-for.js';

describe('agent loss and restart', { timeout: 10 * 60_000 }, () => {
  const c = new TestCluster();
  before(async () => {
    await c.ok(['up', '--hosts', '2', '--port', '0']);
  });
  after(() => c.cleanup());

  it('the default accelerator probe gives usable hosts', async () => {
    const hosts = await c.json<Host[]>(['host', 'list']);
    assert.equal(hosts.filter((h) => h.state === 'up').length, 2);
    for (const h of hosts) assert.ok(['kvm', 'tcg'].includes(h.accel), `host ${h.name} accel ${h.accel}`);
  });

  it('a VM outlives its agent, and the restarted agent re-attaches', async () => {
    await c.ok(['vm', 'create', 'survivor', '--memory', '128', '--host', 'host1', '--workload', 'dirty:8:32']);
    const hb0 = await c.waitBeat('survivor', 0);

    const agent = c.clusterFile().agents.find((a) => a.name === 'host1')!;
    const qemus = findQemuPids(agent.dataDir);
    assert.equal(qemus.length, 1);
    process.kill(agent.pid, 'SIGKILL');
    await waitFor('host1 down', async () => {
      const hosts = await c.json<Host[]>(['host', 'list']);
      return hosts.find((h) => h.name === 'host1')?.state === 'down';
    }, { timeoutMs: 60_000, everyMs: 500 });
    assert.ok(isAlive(qemus[0]!), 'QEMU survives its agent');

    const log = join(agent.dataDir, 'vms', 'survivor', 'console.log');
    const fromLog = (): number => lastHeartbeat(readFileSync(log, 'utf8').slice(-4096))?.seq ?? -1;
    const seen = fromLog();
    assert.ok(seen >= hb0.seq);
    await waitFor('heartbeat counting without the agent', async () => fromLog() > seen, { timeoutMs: 30_000, everyMs: 500 });

    const out = await c.ok(['up']);
    assert.match(out, /restarted agent host1/);
    const hosts = await c.json<Host[]>(['host', 'list']);
    assert.equal(hosts.find((h) => h.name === 'host1')?.state, 'up');
    await waitFor('survivor running again', async () => (await c.json<Vm>(['vm', 'show', 'survivor'])).state === 'running', { timeoutMs: 30_000, everyMs: 500 });
    const hb = await c.waitBeat('survivor', fromLog() - 1);
    assert.equal(hb.bad, 0);
    assert.deepEqual(findQemuPids(agent.dataDir), qemus, 'the same QEMU, not a new one');

    await c.ok(['vm', 'pause', 'survivor']);
    assert.equal((await c.json<Vm>(['vm', 'show', 'survivor'])).state, 'paused');
    await c.ok(['vm', 'resume', 'survivor']);
    await c.waitBeat('survivor', hb.seq);
  });
});
