// A control plane that outlives its leader: `ferry up --controllers 3 --db postgres` runs three
// controllers on a local PostgreSQL, one leading. SIGKILL the leader: a standby leads, the CLI
// follows it without being told, the agents' heartbeats follow it too (both hosts stay up), and
// the VM never stops — its guest heartbeat keeps counting in the same QEMU, with no bad pages.
// The new leader then runs a task (a live migration) to the end.
// Then the leader dies with work in flight (issue 15): a live migration mid-transfer and a DR
// checkpoint mid-stream. The next leader settles the migration — the VM runs exactly once, where the
// record says — and aborts the checkpoint and takes it again; no VM stops.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Host, Task, Vm } from '../../src/contracts/controller-api.js';
import type { Protection } from '../../src/contracts/dr.js';
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
    await c.ok(['up', '--sites', 'main:2,dr:1', '--controllers', '3', '--db', 'postgres', '--port', '0', '--accel', 'tcg'], 300_000);
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
    assert.deepEqual(hosts.map((h) => [h.name, h.state]), [['host1', 'up'], ['host2', 'up'], ['host3', 'up']]);

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

  it('the leader dies mid-migration and mid-checkpoint: the migration ends with its VM running once, the checkpoint is taken again, no VM stops', async () => {
    const leaderNow = async () => (await c.json<StatusJson>(['status'])).controllers.find((x) => x.role === 'leader' && x.up)!;
    const leader = await leaderNow();
    // v1 (host2 after the first test) moves to host1 slowly; v2 on host2 replicates to the DR site slowly.
    await c.ok(['vm', 'create', 'v2', '--memory', '128', '--host', 'host2', '--workload', 'dirty:8:32']);
    const v2Before = await c.waitBeat('v2', 2);
    const v2Qemus = c.qemusOf('v2');
    await c.ok(['dr', 'protect', 'v2', '--to', 'dr', '--rpo', '30s', '--bandwidth', '512K']);
    const v1Before = await c.waitBeat('v1', 0);
    const task = await c.json<Task>(['vm', 'migrate', 'v1', '--to', 'host1', '--bandwidth', '1M', '--strategy', 'precopy', '--no-wait']);
    await waitFor('the migration mid-transfer', async () => {
      const t = await c.json<Task>(['task', 'show', task.id]);
      assert.ok(t.state === 'running' || t.state === 'queued', `the migration ended early: ${JSON.stringify(t)}`);
      return /^(initial|iterative)-transfer/.test(t.message) && t.progress > 10 ? t : undefined;
    }, { timeoutMs: 120_000, everyMs: 500 });
    const syncing = (await c.json<Protection[]>(['dr', 'status'])).find((p) => p.vm === 'v2')!;
    assert.equal(syncing.checkpoints, 0, 'the first checkpoint is still on the wire (512 KiB/s) when the leader dies');
    const [inFlight] = await c.json<MigrationRecord[]>(['vm', 'migrations', 'v1']);
    assert.equal(inFlight?.outcome, 'running', JSON.stringify(inFlight));
    const killedAt = Date.now();
    process.kill(leader.pid!, 'SIGKILL');

    // The migration ends (the next leader settles it) with v1 running exactly once, where the record says.
    const rec = await waitFor('the migration settled', async () => {
      const r = (await c.json<MigrationRecord[]>(['vm', 'migrations', 'v1'])).find((x) => x.id === inFlight.id);
      return r && r.outcome !== 'running' ? r : undefined;
    }, { timeoutMs: 180_000, everyMs: 1000 });
    const v1 = await c.json<Vm>(['vm', 'show', 'v1']);
    assert.equal(v1.state, 'running');
    assert.deepEqual(c.qemusOf('v1').map((q) => q.host), [v1.host], `v1 runs once, on ${v1.host} (migration ${rec.outcome})`);
    assert.equal(v1.host, rec.outcome === 'succeeded' ? 'host1' : 'host2', JSON.stringify(rec));
    const v1After = await c.waitBeat('v1', v1Before.seq);
    assert.equal(v1After.bad, 0);

    // The checkpoint the dead leader started is dropped; the next leader takes one again and commits it.
    const p = await waitFor('a checkpoint committed by the next leader', async () => {
      const x = (await c.json<Protection[]>(['dr', 'status'])).find((q) => q.vm === 'v2');
      return x && x.checkpoints > 0 ? x : undefined;
    }, { timeoutMs: 300_000, everyMs: 2000 });
    assert.ok(Date.parse(p.lastCheckpoint!.takenAt) > killedAt, `taken after the leader died: ${p.lastCheckpoint!.takenAt}`);
    assert.deepEqual(c.qemusOf('v2'), v2Qemus, 'v2: the same QEMU, never stopped or fenced');
    const v2After = await c.waitBeat('v2', v2Before.seq);
    assert.equal(v2After.bad, 0);
    console.log(`leader killed mid-migration and mid-checkpoint: migration ${rec.outcome}${rec.error ? ` (${rec.error.message})` : ''}; ` +
      `v1 on ${v1.host}; v2 checkpoint ${p.lastCheckpoint!.seq} taken ${p.lastCheckpoint!.takenAt}`);
  });
});
