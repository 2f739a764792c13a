// Disaster recovery through the controller against fake agents (real HTTP, no QEMU; the agent
// side is tested with real VMs elsewhere): protection and the refusals, checkpoints committed on
// schedule with their records, an RPO alarm that says why and clears, a DR test that leaves
// production and replication alone and deletes its copy, a planned failover and the failback,
// an unplanned failover refused while the VM's host is up and done once it is down, a live
// migration of a zero-loss VM refused, unprotect.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runController, type RunningController } from '../../src/controller/index.js';
import { controllerClient, openEvents } from '../../src/testing/controller/client.js';
import { waitFor } from '../../src/testing/wait-for.js';
import { FakeAgent } from '../../src/testing/controller/fake-agent.js';
import { TestPki } from '../../src/testing/pki.js';

const ADMIN = 'admin-token-for-tests';
const pki = new TestPki();
const RPO = 3000;

describe('controller disaster recovery', () => {
  let dir: string;
  let ctl: RunningController;
  let beating: NodeJS.Timeout | undefined;
  const h1 = new FakeAgent('h1', pki, 'main');
  const h2 = new FakeAgent('h2', pki, 'main');
  const h3 = new FakeAgent('h3', pki, 'dr');
  const silent = new Set<FakeAgent>();
  const { api, beat, finished } = controllerClient(() => ctl.url, ADMIN, pki, 20_000);
  const protection = async (vm = 'web') => (await api('GET', `/dr/protections/${vm}`)).body;
  const vmRecord = async (vm = 'web') => (await api('GET', `/vms/${vm}`)).body;
  const checkpointsAtLeast = (n: number, vm = 'web') =>
    waitFor(`${n} checkpoints of ${vm}`, async () => ((await protection(vm)).checkpoints >= n ? protection(vm) : undefined), { timeoutMs: 20_000, everyMs: 25 });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-ctl-dr-'));
    await pki.seed(dir);
    // Each guest's heartbeat counter travels with it and advances only while it runs (a test
    // copy goes on from the same counter), as the demo guest's does.
    const counters = new Map<string, number>();
    for (const a of [h1, h2, h3]) {
      a.consoleText = (name) => {
        const guest = name.replace(/-drtest-\d+$/, '');
        const seq = (counters.get(guest) ?? 1) + (a.vms.get(name)?.state === 'running' ? 1 : 0);
        counters.set(guest, seq);
        return `ferry-heartbeat seq=${seq} bad=0\n`;
      };
      await a.listen();
    }
    ctl = await runController({ dataDir: dir, adminToken: ADMIN, hostDownAfterMs: 1500, drTickMs: 100, drHeartbeatWaitMs: 3000 });
    for (const a of [h1, h2, h3]) assert.equal((await beat(a)).status, 200);
    beating = setInterval(() => void Promise.all([h1, h2, h3].filter((a) => !silent.has(a)).map((a) => beat(a))).catch(() => undefined), 200);
    for (const [name, host] of [['web', 'h1'], ['db', 'h2']]) {
      const r = await api('POST', '/vms', { name, memoryMiB: 128, host });
      assert.equal((await finished(r.body.id)).state, 'succeeded');
    }
  });
  after(async () => {
    clearInterval(beating);
    await ctl.close();
    for (const a of [h1, h2, h3]) await a.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses bad requests, naming the field', async () => {
    const cases: [unknown, number, RegExp][] = [
      [{ vm: 'web', rpoMs: RPO }, 400, /toSite/],
      [{ vm: 'web', toSite: 'dr', rpoMs: 10 }, 400, /rpoMs/],
      [{ vm: 'web', toSite: 'dr', rpoMs: RPO, colour: 'red' }, 400, /colour/],
      [{ vm: 'web', toSite: 'dr', rpoMs: RPO, keep: 0 }, 400, /keep/],
      [{ vm: 'web', toSite: 'main', rpoMs: RPO }, 400, /toSite/],
      [{ vm: 'web', toSite: 'mars', rpoMs: RPO }, 400, /toSite/],
      [{ vm: 'nosuch', toSite: 'dr', rpoMs: RPO }, 404, /nosuch/],
    ];
    for (const [body, status, field] of cases) {
      const r = await api('POST', '/dr/protections', body);
      assert.equal(r.status, status, `${JSON.stringify(body)}: ${r.text}`);
      assert.match(r.body.error.field ?? r.body.error.message, field);
    }
    assert.equal((await api('POST', '/dr/protections', { vm: 'web', toSite: 'main', rpoMs: RPO })).body.error.field, 'body.toSite');
    assert.equal((await api('GET', '/dr/protections/web')).status, 404);
    assert.equal((await api('GET', '/dr/protections/web/checkpoints')).status, 404);
    assert.equal((await api('POST', '/dr/protections/web/failover', { mode: 'test' })).status, 404);
    assert.deepEqual((await api('GET', '/dr/protections')).body, []);
  });

  it('protects: checkpoints commit on schedule, each with its record', async () => {
    const events = await openEvents(ctl.url, ADMIN);
    try {
      const r = await api('POST', '/dr/protections', { vm: 'web', toSite: 'dr', rpoMs: RPO, keep: 2 });
      assert.equal(r.status, 201, r.text);
      assert.deepEqual([r.body.vm, r.body.fromSite, r.body.toSite, r.body.targetHost, r.body.state, r.body.keep], ['web', 'main', 'dr', 'h3', 'syncing', 2]);
      const again = await api('POST', '/dr/protections', { vm: 'web', toSite: 'dr', rpoMs: RPO });
      assert.equal(again.status, 409);
      const p = await checkpointsAtLeast(3);
      assert.equal(p.state, 'protected');
      assert.equal(p.alarm, undefined);
      assert.equal(typeof p.ageMs, 'number');
      const list = (await api('GET', '/dr/protections/web/checkpoints')).body as { seq: number; host: string; takenAt: string; wireBytes: number; newBytes: number; guestSeq?: number }[];
      assert.deepEqual(list.slice(-3).map((c) => c.seq), [3, 2, 1], 'newest first, seq counting up from 1');
      assert.ok(list.every((c) => c.host === 'h3' && c.wireBytes > 0 && c.guestSeq! > 1));
      assert.equal(list.at(-1)!.newBytes, 128 * 1024 * 1024, 'the first checkpoint is the whole memory, the next ones a delta');
      assert.ok(list[0]!.wireBytes < list.at(-1)!.wireBytes);
      assert.equal(p.bytesSent, list.reduce((n, c) => n + c.wireBytes, 0));
      // The scheduler kept the newest checkpoint within the RPO: each started before the last aged out.
      const taken = list.map((c) => Date.parse(c.takenAt)).reverse();
      for (let i = 1; i < taken.length; i++) assert.ok(taken[i]! - taken[i - 1]! < RPO, `checkpoint ${i + 1} came ${taken[i]! - taken[i - 1]!} ms after the one before`);
      assert.equal(h3.dr.store.get('web')?.length, 2, 'the DR host keeps the newest `keep`');
      await events.next((e) => e.event === 'dr.checkpoint' && e.data.checkpoint.vm === 'web');
      await events.next((e) => e.event === 'dr.state' && e.data.protection?.state === 'protected');
      const status = (await api('GET', '/dr/protections')).body;
      assert.deepEqual(status.map((x: { vm: string }) => x.vm), ['web']);
    } finally {
      events.close();
    }
  });

  it('raises an alarm that says why when checkpoints stop coming, and clears it', async () => {
    const events = await openEvents(ctl.url, ADMIN);
    try {
      h1.dr.failNext = { code: 'QEMU_FAILED', message: 'migrate to file: No space left on device' };
      await waitFor('the failure recorded', async () => ((await protection()).lastError?.code === 'QEMU_FAILED' ? true : undefined), { timeoutMs: 10_000, everyMs: 25 });
      h1.dr.stall = true;
      const raised = await events.next((e) => e.event === 'dr.alarm' && e.data.vm === 'web' && e.data.raised, 15_000);
      assert.match(raised.data.reason, /older than the RPO of 3 s/);
      const p = await protection();
      assert.equal(p.state, 'behind');
      assert.equal(p.alarm.reason, raised.data.reason);
      h1.dr.stall = false;
      await events.next((e) => e.event === 'dr.alarm' && e.data.vm === 'web' && !e.data.raised, 15_000);
      const back = await waitFor('protected again', async () => ((await protection()).state === 'protected' ? protection() : undefined), { timeoutMs: 10_000, everyMs: 25 });
      assert.equal(back.alarm, undefined);
      assert.equal(back.lastError, undefined);
    } finally {
      h1.dr.stall = false;
      events.close();
    }
  });

  it('a DR test runs an isolated copy, checks it, deletes it; production and replication go on', async () => {
    const before = await protection();
    const held = h3.hold('delete');
    try {
      const r = await api('POST', '/dr/protections/web/failover', { mode: 'test' });
      assert.equal(r.status, 202, r.text);
      assert.equal(r.body.kind, 'dr.test');
      await held.reached;
      // The copy runs at h3 and is in h3's heartbeats: it must not become a VM of record.
      assert.equal(h3.vms.get('web-drtest-1')?.state, 'stopped');
      // Replication goes on meanwhile (and heartbeats from h3 keep reporting the copy).
      await checkpointsAtLeast(before.checkpoints + 1);
      assert.deepEqual(((await api('GET', '/vms')).body as { name: string }[]).map((v) => v.name).sort(), ['db', 'web']);
      held.release();
      const t = await finished(r.body.id);
      assert.equal(t.state, 'succeeded', JSON.stringify(t));
      const rep = t.result;
      assert.deepEqual([rep.kind, rep.outcome, rep.from, rep.to], ['test', 'succeeded', 'h1', 'h3']);
      assert.ok(rep.checks.every((c: { passed: boolean }) => c.passed), JSON.stringify(rep.checks));
      assert.deepEqual(rep.checks.map((c: { name: string }) => c.name), ['heartbeat', 'memory', 'production untouched', 'torn down', 'replication untouched']);
      assert.ok(rep.checkpointSeq >= before.lastCheckpoint.seq);
      assert.ok(rep.timeToRunningMs >= 0 && rep.dataWindowMs >= 0);
      assert.deepEqual(h3.dr.restores.at(-1), { vm: 'web', seq: rep.checkpointSeq, asName: 'web-drtest-1', isolated: true });
      assert.ok(!h3.vms.has('web-drtest-1'), 'the copy is gone');
      const vm = await vmRecord();
      assert.deepEqual([vm.host, vm.state], ['h1', 'running']);
      assert.match(rep.checks[4].detail, /^[1-9]\d* checkpoints? committed during the test/);
      assert.equal((await api('GET', '/dr/reports?vm=web')).body[0].id, rep.id);
    } finally {
      held.release();
    }
    const busy = await api('POST', '/dr/protections/web/failover', { mode: 'sideways' });
    assert.equal(busy.status, 400);
    assert.equal(busy.body.error.field, 'body.mode');
  });

  it('a planned failover loses nothing; failback brings the VM home and replication resumes', async () => {
    const r = await api('POST', '/dr/protections/web/failover', { mode: 'planned' });
    assert.equal(r.status, 202, r.text);
    const t = await finished(r.body.id);
    assert.equal(t.state, 'succeeded', JSON.stringify(t));
    assert.deepEqual([t.result.kind, t.result.outcome, t.result.dataWindowMs], ['planned', 'succeeded', 0]);
    assert.ok(t.result.wireBytes > 0);
    const vm = await vmRecord();
    assert.deepEqual([vm.host, vm.site, vm.state], ['h3', 'dr', 'running']);
    assert.ok(!h1.vms.has('web'), 'the source copy is deleted');
    assert.ok(h1.dr.sends.at(-1)?.leavePaused);
    assert.equal((await protection()).state, 'failed-over');
    const n = (await protection()).checkpoints;
    await sleep(500);
    assert.equal((await protection()).checkpoints, n, 'no replication while failed over');
    const again = await api('POST', '/dr/protections/web/failover', { mode: 'planned' });
    assert.equal(again.status, 409);

    const back = await api('POST', '/dr/protections/web/failback', {});
    assert.equal(back.status, 202, back.text);
    const fb = await finished(back.body.id);
    assert.equal(fb.state, 'succeeded', JSON.stringify(fb));
    assert.deepEqual([fb.result.kind, fb.result.from, fb.result.to], ['failback', 'h3', 'h1']);
    const reverse = ((await api('GET', '/dr/protections/web/checkpoints')).body as { host: string; wireBytes: number }[]).filter((c) => c.host === 'h1');
    assert.equal(reverse.length, 2, 'two checkpoints home: one while running, the final one paused');
    assert.equal(fb.result.wireBytes, reverse[0]!.wireBytes + reverse[1]!.wireBytes);
    assert.ok(fb.result.wireBytes < 128 * 1024 * 1024, 'only the delta crossed');
    assert.deepEqual(h3.dr.sends.map((s) => [s.targetHost, s.leavePaused ?? false]), [['h1', false], ['h1', true]]);
    const home = await vmRecord();
    assert.deepEqual([home.host, home.site, home.state], ['h1', 'main', 'running']);
    assert.ok(!h3.vms.has('web'));
    await waitFor('protected again', async () => ((await protection()).state === 'protected' ? true : undefined), { timeoutMs: 10_000, everyMs: 25 });
    assert.equal((await api('POST', '/dr/protections/web/failback', {})).status, 409);
  });

  it('an unplanned failover is refused while the VM\'s host is up, and works once it is down', async () => {
    await checkpointsAtLeast((await protection()).checkpoints + 1);
    const refused = await api('POST', '/dr/protections/web/failover', {});
    assert.equal(refused.status, 409);
    assert.match(refused.body.error.message, /host h1 is up.*Fence it first/);
    silent.add(h1);
    await waitFor('h1 down', async () => ((await api('GET', '/hosts')).body.find((h: { name: string }) => h.name === 'h1').state === 'down' ? true : undefined), { timeoutMs: 10_000, everyMs: 25 });
    const planned = await api('POST', '/dr/protections/web/failover', { mode: 'planned' });
    assert.equal(planned.status, 503);
    assert.match(planned.body.error.message, /unplanned failover/);
    const newest = (await protection()).lastCheckpoint;
    const r = await api('POST', '/dr/protections/web/failover', { mode: 'unplanned' });
    assert.equal(r.status, 202, r.text);
    const t = await finished(r.body.id);
    assert.equal(t.state, 'succeeded', JSON.stringify(t));
    const rep = t.result;
    assert.deepEqual([rep.kind, rep.outcome, rep.from, rep.to], ['unplanned', 'succeeded', 'h1', 'h3']);
    assert.ok(rep.checkpointSeq >= newest.seq, 'the newest checkpoint the DR host holds');
    assert.ok(rep.dataWindowMs > 0);
    const vm = await vmRecord();
    assert.deepEqual([vm.host, vm.site, vm.state], ['h3', 'dr', 'running']);
    assert.equal((await protection()).state, 'failed-over');
  });

  it('refuses to live-migrate a zero-loss VM, saying why and what to do instead', async () => {
    const r = await api('POST', '/dr/protections', { vm: 'db', toSite: 'dr', rpoMs: 0 });
    assert.equal(r.status, 201, r.text);
    await checkpointsAtLeast(1, 'db');
    for (const body of [{ to: 'h1' }, { to: 'h1', dryRun: true }]) {
      const m = await api('POST', '/vms/db/migrate', body);
      assert.equal(m.status, 409, m.text);
      assert.equal(m.body.error.code, 'INVALID_STATE');
      assert.match(m.body.error.message, /zero-loss/);
      assert.match(m.body.error.message, /ferry dr unprotect db/);
      assert.match(m.body.error.message, /ferry dr failover db --planned/);
    }
    assert.equal((await vmRecord('db')).host, 'h2', 'the VM stays where it was');
    const before = h2.calls.filter((c) => c === 'dr store-delete').length;
    assert.equal((await api('DELETE', '/dr/protections/db')).status, 200);
    // Unprotecting releases what the VM's host held (and frees its local checkpoint).
    assert.equal(h2.calls.filter((c) => c === 'dr store-delete').length, before + 1);
  });

  it('unprotects: replication stops and the DR copies are freed', async () => {
    const r = await api('POST', '/dr/protections', { vm: 'db', toSite: 'dr', rpoMs: RPO });
    assert.equal(r.status, 201, r.text);
    await checkpointsAtLeast(1, 'db');
    const del = await api('DELETE', '/dr/protections/db');
    assert.equal(del.status, 200, del.text);
    assert.equal(del.body.vm, 'db');
    assert.ok(h3.calls.includes('dr store-delete'));
    assert.ok(!h3.dr.store.has('db'));
    assert.equal((await api('GET', '/dr/protections/db')).status, 404);
    const sends = h2.dr.sends.length;
    await sleep(400);
    assert.equal(h2.dr.sends.length, sends, 'no more checkpoints');
    assert.equal((await api('DELETE', '/dr/protections/db')).status, 404);
    assert.ok((await api('GET', '/dr/reports')).body.length >= 4, 'reports stay as evidence');
  });
});
