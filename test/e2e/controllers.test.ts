// A control plane that outlives its leader: `ferry up --controllers 3 --db postgres` runs three
// controllers on a local PostgreSQL, one leading. SIGKILL the leader: a standby leads, the CLI
// follows it without being told, the agents' heartbeats follow it too (both hosts stay up), and
// the VM never stops — its guest heartbeat keeps counting in the same QEMU, with no bad pages.
// The new leader then runs a task (a live migration) to the end.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Host, Vm } from '../../src/contracts/controller-api.js';
import type { MigrationRecord } from '../../src/contracts/migration.js';
import { findQemuPids } from '../../src/agent/index.js';
import { isAlive } from '../../src/cli/process.js';
import { waitFor } from '../../src/testing/wait-for.js';
import { TestCluster } from './harness.js';

interface StatusJson {
  controllers: { url: string; role: 'leader' | 'standby'; up: boolean; pid?: number }[];
}

describe('controllers on PostgreSQL: losing the leader', { timeout: 15 * 60_000 }, () => {
  const c = new TestCluster();
  before(async () => {
    await c.ok(['up', '--hosts', '2', '--controllers', '3', '--db', 'postgres', '--port', '0', '--accel', 'tcg'], 300_000);
  });
  after(() => c.cleanup());

  it('a standby leads, the CLI and the agents follow it, and the VM never stops', async () => {
    const first = await c.json<StatusJson>(['status']);
    assert.equal(first.controllers.length, 3);
    assert.deepEqual(first.controllers.map((x) => x.up), [true, true, true]);
    const leaders = first.controllers.filter((x) => x.role === 'leader');
    assert.equal(leaders.length, 1, 'exactly one leader');
    const leader = leaders[0]!;

    await c.ok(['vm', 'create', 'v1', '--memory', '128', '--host', 'host1', '--workload', 'dirty:8:32']);
    const before = await c.waitBeat('v1', 2);
    const agent = c.clusterFile().agents.find((a) => a.name === 'host1')!;
    const qemus = findQemuPids(agent.dataDir);
    assert.equal(qemus.length, 1);

    process.kill(leader.pid!, 'SIGKILL');
    const next = await waitFor('another controller to lead', async () => {
      const s = await c.json<StatusJson>(['status']);
      const l = s.controllers.find((x) => x.role === 'leader' && x.up);
      return l && l.url !== leader.url ? s : undefined;
    }, { timeoutMs: 60_000, everyMs: 500 });
    assert.deepEqual(next.controllers.find((x) => x.url === leader.url)?.up, false, 'the killed leader is reported down');

    // Heartbeats reach the new leader: both hosts are up well after it took over, never marked down.
    await sleep(8_000);
    const hosts = await c.json<Host[]>(['host', 'list']);
    assert.deepEqual(hosts.map((h) => [h.name, h.state]), [['host1', 'up'], ['host2', 'up']]);

    const vm = await c.json<Vm>(['vm', 'show', 'v1']);
    assert.equal(vm.state, 'running');
    assert.equal(vm.host, 'host1');
    assert.deepEqual(findQemuPids(agent.dataDir), qemus, 'the same QEMU: the VM was never stopped or fenced');
    assert.ok(isAlive(qemus[0]!));
    const during = await c.waitBeat('v1', before.seq);
    assert.equal(during.bad, 0);

    // The new leader accepts and runs a task to the end.
    const m = await c.json<MigrationRecord>(['vm', 'migrate', 'v1', '--to', 'host2']);
    assert.equal(m.outcome, 'succeeded');
    assert.equal((await c.json<Vm>(['vm', 'show', 'v1'])).host, 'host2');
    const afterMove = await c.waitBeat('v1', during.seq);
    assert.equal(afterMove.bad, 0);
    assert.ok(afterMove.seq > during.seq, 'the guest counted on without restarting');
  });
});
