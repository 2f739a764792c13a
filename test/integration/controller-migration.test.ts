// Live migration through the controller against fake agents (real HTTP, no QEMU): the plan of
// a dry run, the refusals, a migration that succeeds (record, task, events, VM moved, the
// target's incoming copy neither adopted nor taking over the record before commitment), one
// that fails at the source (abort on both, VM unchanged, error verbatim), and an operator abort.
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

describe('controller live migration', () => {
  let dir: string;
  let ctl: RunningController;
  let beating: NodeJS.Timeout | undefined;
  const h1 = new FakeAgent('h1', pki);
  const h2 = new FakeAgent('h2', pki);
  const old = new FakeAgent('h3', pki);
  const gone = new FakeAgent('h4', pki);
  const { api, beat, finished } = controllerClient(() => ctl.url, ADMIN, pki);
  const vmHost = async (): Promise<string> => (await api('GET', '/vms/web')).body.host as string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-ctl-migr-'));
    await pki.seed(dir);
    old.dataUrl = undefined;
    for (const a of [h1, h2, old, gone]) await a.listen();
    ctl = await runController({ dataDir: dir, adminToken: ADMIN, hostDownAfterMs: 1500 });
    for (const a of [h1, h2, old, gone]) assert.equal((await beat(a)).status, 200);
    // h1..h3 keep beating (so the reconciler runs during migrations); h4 falls silent and goes down.
    beating = setInterval(() => void Promise.all([h1, h2, old].map((a) => beat(a))).catch(() => undefined), 200);
    const r = await api('POST', '/vms', { name: 'web', memoryMiB: 128, host: 'h1' });
    assert.equal((await finished(r.body.id)).state, 'succeeded');
  });
  after(async () => {
    clearInterval(beating);
    await ctl.close();
    for (const a of [h1, h2, old, gone]) await a.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers a dry run with the plan and does nothing else', async () => {
    const r = await api('POST', '/vms/web/migrate', { to: 'h2', dryRun: true, maxDowntimeMs: 200 });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.vm, 'web');
    assert.equal(r.body.from, 'h1');
    assert.equal(r.body.to, 'h2');
    assert.equal(r.body.maxDowntimeMs, 200);
    assert.deepEqual(r.body.candidates.map((c: { strategy: string }) => c.strategy), ['precopy', 'postcopy', 'hybrid']);
    assert.equal(r.body.chosen.strategy, 'precopy');
    assert.equal(r.body.transport, 'direct');
    assert.ok(!h2.calls.includes('migration incoming'));
    assert.equal(await vmHost(), 'h1');
  });

  it('refuses bad requests with the right codes', async () => {
    const bad = await api('POST', '/vms/web/migrate', { to: 'h2', strategy: 'fast' });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.field ?? bad.body.error.message, /strategy/);
    const noTo = await api('POST', '/vms/web/migrate', {});
    assert.equal(noTo.status, 400);
    assert.match(noTo.body.error.field ?? noTo.body.error.message, /to/);
    assert.equal((await api('POST', '/vms/nosuch/migrate', { to: 'h2' })).status, 404);
    assert.equal((await api('POST', '/vms/web/migrate', { to: 'nosuch' })).status, 404);
    const same = await api('POST', '/vms/web/migrate', { to: 'h1' });
    assert.equal(same.status, 400);
    assert.equal(same.body.error.field, 'body.to');
    const noData = await api('POST', '/vms/web/migrate', { to: 'h3' });
    assert.equal(noData.status, 409);
    assert.match(noData.body.error.message, /data endpoint/);
    await waitFor('h4 down', async () => ((await api('GET', '/hosts')).body.find((h: { name: string }) => h.name === 'h4').state === 'down' ? true : undefined), { timeoutMs: 10_000, everyMs: 25 });
    const down = await api('POST', '/vms/web/migrate', { to: 'h4' });
    assert.equal(down.status, 503);
    assert.equal(down.body.error.code, 'HOST_DOWN');
    await api('POST', '/vms/web/pause', {}).then((r) => finished(r.body.id));
    const paused = await api('POST', '/vms/web/migrate', { to: 'h2' });
    assert.equal(paused.status, 409);
    assert.equal(paused.body.error.code, 'INVALID_STATE');
    await api('POST', '/vms/web/resume', {}).then((r) => finished(r.body.id));
  });

  it('migrates: seven steps, record, VM moved only after the target committed', async () => {
    const events = await openEvents(ctl.url, ADMIN);
    const held = h2.hold('migration commit');
    try {
      const r = await api('POST', '/vms/web/migrate', { to: 'h2' });
      assert.equal(r.status, 202, r.text);
      assert.equal(r.body.kind, 'vm.migrate');
      await held.reached;
      // Both hosts report the VM now; several heartbeats later the record is still the source's,
      // the incoming copy was not adopted, and h2 counts the VM against its capacity.
      await sleep(600);
      assert.equal(await vmHost(), 'h1');
      assert.equal((await api('GET', '/vms')).body.length, 1);
      const hosts = (await api('GET', '/hosts')).body as { name: string; memoryAllocatedMiB: number }[];
      assert.equal(hosts.find((h) => h.name === 'h2')!.memoryAllocatedMiB, 128);
      held.release();
      const t = await finished(r.body.id);
      assert.equal(t.state, 'succeeded', JSON.stringify(t));
      const rec = t.result;
      assert.equal(rec.outcome, 'succeeded');
      assert.equal(rec.step, 'activation');
      assert.deepEqual([rec.vm, rec.from, rec.to, rec.strategy, rec.downtimeMs, rec.totalMs], ['web', 'h1', 'h2', 'precopy', 42, 1234]);
      assert.equal(rec.memoryBytes, 128 * 1024 * 1024);
      assert.ok(rec.wireBytes > 0 && rec.rounds >= 2);
      assert.equal(rec.observedDowntimeMs, undefined, 'the fake console never advances: no number is invented');
      assert.equal(await vmHost(), 'h2');
      assert.ok(!h1.vms.has('web') && h2.vms.get('web')?.state === 'running');
      assert.deepEqual(h1.calls.filter((c) => c.startsWith('migration') && c !== 'migration progress'), ['migration measure', 'migration measure', 'migration outgoing', 'migration commit']);
      assert.deepEqual(h2.calls.filter((c) => c.startsWith('migration')), ['migration incoming', 'migration progress', 'migration commit']);
      await events.next((e) => e.event === 'vm' && e.data.vm.name === 'web' && e.data.vm.host === 'h2');
      const seen = events.events.filter((e) => e.event === 'task' && e.data.task.id === r.body.id).map((e) => e.data.task);
      const progress = seen.map((x) => x.progress as number);
      assert.deepEqual(progress, [...progress].sort((a, b) => a - b));
      for (const s of ['pre-migration', 'reservation', 'initial-transfer', 'commitment', 'activation']) {
        assert.ok(seen.some((x) => (x.message as string).startsWith(s)), `task message named ${s}`);
      }
      const list = (await api('GET', '/migrations?vm=web')).body;
      assert.equal(list[0].id, rec.id);
      assert.deepEqual((await api('GET', `/migrations/${rec.id}`)).body, rec);
      assert.equal((await api('GET', '/migrations/nosuch')).status, 404);
      const hosts2 = (await api('GET', '/hosts')).body as { name: string; memoryAllocatedMiB: number }[];
      assert.deepEqual(hosts2.map((h) => h.memoryAllocatedMiB).slice(0, 2), [0, 128]);
    } finally {
      held.release();
      events.close();
    }
  });

  it('fails at the source: aborts both sides, keeps the VM where it was, keeps the cause verbatim', async () => {
    const words = 'qemu-system-x86_64: Unable to write to socket: Broken pipe';
    h2.migrations.failAt = { percent: 50, code: 'WIRE_CONNECTION_LOST', message: words };
    const before = h1.calls.length;
    const r = await api('POST', '/vms/web/migrate', { to: 'h1' });
    const t = await finished(r.body.id);
    h2.migrations.failAt = undefined;
    assert.equal(t.state, 'failed');
    assert.deepEqual(t.error, { code: 'WIRE_CONNECTION_LOST', message: words });
    assert.ok(h1.calls.slice(before).includes('migration abort'));
    assert.ok(h2.calls.includes('migration abort'));
    assert.equal(await vmHost(), 'h2');
    assert.ok(!h1.vms.has('web'), 'the target dropped its copy');
    const rec = (await api('GET', '/migrations?vm=web')).body[0];
    assert.equal(rec.outcome, 'failed');
    assert.deepEqual(rec.error, t.error);
    // Heartbeats do not move it either.
    await sleep(500);
    assert.equal(await vmHost(), 'h2');
    assert.equal((await api('GET', '/vms/web')).body.state, 'running');
  });

  it('fails at reservation with the agent error and aborts both', async () => {
    h1.failNext('migration incoming', { status: 507, code: 'NO_CAPACITY', message: 'h1: not enough memory for 128 MiB' });
    const r = await api('POST', '/vms/web/migrate', { to: 'h1' });
    const t = await finished(r.body.id);
    assert.deepEqual(t.error, { code: 'NO_CAPACITY', message: 'h1: not enough memory for 128 MiB' });
    assert.equal(await vmHost(), 'h2');
    assert.equal(h2.calls.at(-1), 'migration abort');
  });

  it('an operator abort during the transfer aborts both sides; the VM stays', async () => {
    h2.migrations.stepPercent = 1;
    const r = await api('POST', '/vms/web/migrate', { to: 'h1' });
    await waitFor('transfer', async () => (/transfer/.test((await api('GET', `/tasks/${r.body.id}`)).body.message) ? true : undefined), { timeoutMs: 10_000, everyMs: 25 });
    const busy = await api('POST', '/vms/web/migrate', { to: 'h1' });
    assert.equal(busy.status, 409);
    assert.equal((await api('POST', `/tasks/${r.body.id}/abort`, {})).status, 200);
    const t = await finished(r.body.id);
    h2.migrations.stepPercent = 50;
    assert.equal(t.state, 'aborted');
    assert.equal(t.error.code, 'ABORTED');
    assert.ok(h2.calls.at(-1) === 'migration abort' || h2.calls.includes('migration abort'));
    assert.ok(h1.calls.includes('migration abort'));
    assert.equal(await vmHost(), 'h2');
    assert.equal((await api('GET', '/migrations?vm=web')).body[0].outcome, 'aborted');
    // and the VM can move afterwards
    const again = await api('POST', '/vms/web/migrate', { to: 'h1' });
    assert.equal((await finished(again.body.id)).state, 'succeeded');
    assert.equal(await vmHost(), 'h1');
  });
});
