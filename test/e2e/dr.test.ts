// Disaster recovery end to end through the real CLI, on a two-site local cluster
// (`ferry up --sites main:1,dr:1`) with a real VM that dirties memory and writes its disk:
// protect, a DR test that leaves production alone, a planned failover that loses nothing, a
// failback that sends only what changed, and site loss (the protected host's agent and QEMU
// killed), after which high availability restarts the VM at the DR site from its last
// checkpoint with its heartbeat counter at or after the checkpoint's and memory intact.
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import assert from 'node:assert/strict';
import type { Host, Vm } from '../../src/contracts/controller-api.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CheckpointRecord, FailoverReport, Protection, ScrubReport } from '../../src/contracts/dr.js';
import { findQemuPids } from '../../src/agent/index.js';
import { TestCluster } from './harness.js';
import { waitFor } from '../../src/testing/wait-for.js';

const VM = 'drweb';

describe('disaster recovery, end to end', { timeout: 20 * 60_000 }, () => {
  const c = new TestCluster();

  before(async () => {
    await c.ok(['up', '--sites', 'main:1,dr:1', '--port', '0', '--accel', 'tcg']);
    const vm = await c.json<Vm>(['vm', 'create', VM, '--memory', '256', '--workload', 'dirty:4:32,http', '--disk', '64M', '--host', 'host1']);
    assert.equal(vm.state, 'running');
    await c.waitBeat(VM, 2);
  });

  after(async () => {
    await c.cleanup();
  });

  const checkpoints = (): Promise<CheckpointRecord[]> => c.json<CheckpointRecord[]>(['dr', 'checkpoints', VM]);
  const protection = async (): Promise<Protection> => {
    const p = (await c.json<Protection[]>(['dr', 'status'])).find((x) => x.vm === VM);
    assert.ok(p, `${VM} is protected`);
    return p;
  };
  const passed = (r: FailoverReport): void => {
    assert.equal(r.outcome, 'succeeded', JSON.stringify(r));
    for (const ch of r.checks) assert.ok(ch.passed, `${ch.name}: ${ch.detail}`);
  };

  it('protect: checkpoints commit at the DR site, each after the first costing about what the guest changed', async () => {
    const p = await c.json<Protection>(['dr', 'protect', VM, '--to', 'dr', '--rpo', '20s', '--keep', '3']);
    assert.equal(p.targetHost, 'host2');
    const cps = await waitFor('three checkpoints', async () => {
      const l = await checkpoints();
      return l.length >= 3 ? l : undefined;
    }, { timeoutMs: 240_000, everyMs: 1000 });
    const full = cps[0]!.memoryBytes + cps[0]!.diskBytes;
    for (const cp of cps.slice(0, -1)) {
      assert.ok(cp.newBytes < full / 4, `checkpoint ${cp.seq} stored ${cp.newBytes} new bytes of ${full}`);
      assert.ok(cp.guestSeq !== undefined && cp.pauseMs >= 0);
    }
    console.log(`checkpoints: ${cps.map((x) => `#${x.seq} pause ${x.pauseMs} ms, ${x.durationMs} ms, wire ${x.wireBytes} B, new ${x.newBytes} B`).join('; ')}`);
    const st = await protection();
    assert.ok(st.state === 'protected' || st.state === 'behind', st.state);
  });

  it('scrub verifies the DR store and finds a chunk corrupted on disk; the next checkpoint stores it again', async () => {
    const clean = await c.json<ScrubReport>(['dr', 'scrub', 'host2']);
    assert.ok(clean.chunks > 0 && clean.corrupt.length === 0, JSON.stringify(clean));
    // A chunk the newest checkpoint uses (not one a dropped checkpoint left for GC), so that
    // scrub must mark a checkpoint damaged.
    const storeDir = join(c.clusterFile().agents.find((a) => a.name === 'host2')!.dataDir, 'dr-store');
    const index = new Database(join(storeDir, 'index.db'), { readonly: true });
    const row = index.prepare('SELECT lower(hex(chunk)) AS hex FROM refs WHERE vm = ? ORDER BY seq DESC LIMIT 1').get(VM) as { hex: string } | undefined;
    index.close();
    assert.ok(row, 'the newest checkpoint references chunks');
    const victim = join(storeDir, 'chunks', row.hex.slice(0, 2), row.hex);
    const bytes = readFileSync(victim);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 1) ^ 0xff, bytes.length - 1);
    writeFileSync(victim, bytes);
    const r = await c.run(['dr', 'scrub', 'host2', '--json']);
    assert.equal(r.code, 1, 'scrub exits 1 when it found damage');
    const found = JSON.parse(r.stdout) as ScrubReport;
    assert.equal(found.corrupt.length, 1, JSON.stringify(found));
    assert.ok(found.damaged.length >= 1);
    const before = (await checkpoints())[0]!.seq;
    await waitFor('a checkpoint after the scrub', async () => ((await checkpoints())[0]!.seq > before ? true : undefined), { timeoutMs: 120_000, everyMs: 1000 });
    const after = await c.json<ScrubReport>(['dr', 'scrub', 'host2']);
    assert.equal(after.corrupt.length, 0, JSON.stringify(after));
  });

  it('a DR test runs an isolated copy, checks it and tears it down; production and replication go on', async () => {
    const before = (await checkpoints())[0]!.seq;
    const r = await c.json<FailoverReport>(['dr', 'failover', VM, '--test']);
    passed(r);
    assert.equal(r.kind, 'test');
    assert.ok(r.checks.some((ch) => ch.name === 'service answered' && ch.passed), `the copy's HTTP service answered: ${JSON.stringify(r.checks)}`);
    console.log(`DR test: ${r.timeToRunningMs} ms to running, data window ${r.dataWindowMs} ms`);
    const vm = await c.json<Vm>(['vm', 'show', VM]);
    assert.deepEqual([vm.host, vm.state], ['host1', 'running']);
    assert.ok(!(await c.json<Vm[]>(['vm', 'list'])).some((v) => v.name !== VM), 'no test copy is left');
    await waitFor('replication goes on', async () => ((await checkpoints())[0]!.seq > before ? true : undefined), { timeoutMs: 120_000, everyMs: 1000 });
    const reports = await c.json<FailoverReport[]>(['dr', 'reports', VM]);
    assert.equal(reports[0]?.id, r.id, 'the DR test report is kept');
  });

  it('planned failover loses nothing; failback sends only what changed', async () => {
    const out = await c.json<FailoverReport>(['dr', 'failover', VM, '--planned']);
    passed(out);
    let vm = await c.json<Vm>(['vm', 'show', VM]);
    assert.deepEqual([vm.host, vm.site, vm.state], ['host2', 'dr', 'running']);
    assert.equal((await protection()).state, 'failed-over');
    await c.waitBeat(VM, 0);
    const back = await c.json<FailoverReport>(['dr', 'failback', VM]);
    passed(back);
    vm = await c.json<Vm>(['vm', 'show', VM]);
    assert.deepEqual([vm.host, vm.site, vm.state], ['host1', 'main', 'running']);
    const full = (await checkpoints())[0]!.memoryBytes + (await checkpoints())[0]!.diskBytes;
    assert.ok(back.wireBytes !== undefined && back.wireBytes < full / 2, `failback sent ${back.wireBytes} bytes; a full copy is ${full}`);
    console.log(`planned failover ${out.timeToRunningMs} ms; failback ${back.timeToRunningMs} ms, ${back.wireBytes} bytes on the wire (full copy ${full})`);
    const hb = await c.waitBeat(VM, 0);
    assert.equal(hb.bad, 0);
  });

  it('site loss: the host dies, HA restarts the VM at the DR site from its last checkpoint', async () => {
    // Replication must have caught up after the failback.
    const last = await waitFor('a checkpoint after the failback', async () => {
      const p = await protection();
      return p.state === 'protected' && p.lastCheckpoint?.host === 'host2' ? p.lastCheckpoint : undefined;
    }, { timeoutMs: 240_000, everyMs: 1000 });
    const host1 = c.clusterFile().agents.find((a) => a.name === 'host1')!;
    const qemus = findQemuPids(host1.dataDir);
    assert.equal(qemus.length, 1);
    process.kill(host1.pid, 'SIGKILL');
    for (const pid of qemus) process.kill(pid, 'SIGKILL');
    await waitFor('host1 down', async () => ((await c.json<Host[]>(['host', 'list'])).find((h) => h.name === 'host1')?.state === 'down' ? true : undefined), { timeoutMs: 60_000, everyMs: 500 });
    const vm = await waitFor(`${VM} restarted at the DR site`, async () => {
      const v = await c.json<Vm>(['vm', 'show', VM]);
      return v.host === 'host2' && v.state === 'running' ? v : undefined;
    }, { timeoutMs: 120_000, everyMs: 1000 });
    assert.equal(vm.site, 'dr');
    const newest = (await checkpoints())[0]!;
    const hb = await c.waitBeat(VM, 0);
    assert.ok(hb.seq >= (newest.guestSeq ?? last.guestSeq ?? 0), `heartbeat ${hb.seq} continues from the checkpoint (${newest.guestSeq})`);
    assert.equal(hb.bad, 0);
    const report = (await c.json<FailoverReport[]>(['dr', 'reports', VM]))[0]!;
    assert.equal(report.kind, 'unplanned');
    passed(report);
    console.log(`site loss: back at the DR site ${report.timeToRunningMs} ms after the failover started; data window ${report.dataWindowMs} ms`);
  });
});
