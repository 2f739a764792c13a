// Live migration end to end, through the CLI: a 2-host cluster under TCG, a demo guest that
// keeps dirtying memory, a dry run that prints a plan, a migration whose record says it
// succeeded, the VM now on the other host with its heartbeat continuing (seq above its
// pre-migration value, bad=0), and a migration to a host that is down leaving the VM running
// where it was.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Host, Vm } from '../../src/contracts/controller-api.js';
import type { MigrationPlan, MigrationRecord } from '../../src/contracts/migration.js';
import { terminate } from '../../src/cli/process.js';
import { TestCluster } from './harness.js';
import { waitFor } from '../../src/testing/wait-for.js';

describe('ferry vm migrate, end to end', { timeout: 15 * 60_000 }, () => {
  const c = new TestCluster();
  let vm: Vm;
  const other = (h: string): string => (h === 'host1' ? 'host2' : 'host1');

  before(async () => {
    await c.ok(['up', '--hosts', '2', '--port', '0', '--accel', 'tcg']);
    vm = await c.json<Vm>(['vm', 'create', 'mover', '--memory', '128', '--workload', 'dirty:16:48']);
    assert.equal(vm.state, 'running');
    await c.waitBeat('mover', 2);
  });
  after(() => c.cleanup());

  it('a dry run prints the plan and changes nothing', async () => {
    const text = await c.ok(['vm', 'migrate', 'mover', '--to', other(vm.host), '--dry-run']);
    assert.match(text, /STRATEGY/);
    assert.match(text, /precopy/);
    assert.match(text, /chosen: (precopy|hybrid|postcopy)/);
    const plan = await c.json<MigrationPlan>(['vm', 'migrate', 'mover', '--to', other(vm.host), '--dry-run']);
    assert.equal(plan.candidates.length, 3);
    assert.ok(plan.memoryBytes >= 128 * 1024 * 1024);
    assert.equal((await c.json<Vm>(['vm', 'show', 'mover'])).host, vm.host);
  });

  it('migrates the running VM; its heartbeat continues on the other host with bad=0', async () => {
    const before = await c.waitBeat('mover', 0);
    // The guest must really be rewriting memory, or bad=0 afterwards would prove nothing.
    assert.ok(Number(before.fields.dirtied_mib ?? 0) > 0, `guest is dirtying memory: ${JSON.stringify(before)}`);
    const to = other(vm.host);
    const rec = await c.json<MigrationRecord>(['vm', 'migrate', 'mover', '--to', to]);
    assert.equal(rec.outcome, 'succeeded', JSON.stringify(rec));
    for (const k of ['strategy', 'downtimeMs', 'totalMs', 'memoryBytes', 'wireBytes'] as const) assert.ok(rec[k] !== undefined, k);
    assert.ok(rec.wireBytes > 0 && rec.totalMs > 0);
    const moved = await c.json<Vm>(['vm', 'show', 'mover']);
    assert.equal(moved.host, to);
    assert.equal(moved.state, 'running');
    const after = await c.waitBeat('mover', before.seq);
    assert.ok(after.seq > before.seq);
    assert.equal(after.bad, 0);
    assert.ok(Number(after.fields.dirtied_mib ?? 0) > Number(before.fields.dirtied_mib ?? 0), `writer kept running after the move: ${JSON.stringify(after)}`);
    const list = await c.json<MigrationRecord[]>(['vm', 'migrations', 'mover']);
    assert.equal(list[0]?.id, rec.id);
  });

  it('a migration to a host that is down is refused; the VM keeps running at its source', async () => {
    const here = (await c.json<Vm>(['vm', 'show', 'mover'])).host;
    const target = other(here);
    const agent = c.clusterFile().agents.find((a) => a.name === target);
    assert.ok(agent, `agent ${target} in cluster.json`);
    await terminate(agent.pid, 5000);
    await waitFor(`${target} down`, async () => (await c.json<Host[]>(['host', 'list'])).find((h) => h.name === target)?.state === 'down', { timeoutMs: 30_000, everyMs: 500 });
    const r = await c.run(['vm', 'migrate', 'mover', '--to', target]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^ferry: .*\(HOST_DOWN\)\n$/);
    const still = await c.json<Vm>(['vm', 'show', 'mover']);
    assert.equal(still.host, here);
    assert.equal(still.state, 'running');
    const hb = await c.heartbeat('mover');
    assert.ok(hb);
    const next = await c.waitBeat('mover', hb.seq);
    assert.equal(next.bad, 0);
  });
});
