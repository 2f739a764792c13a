// VM tasks against a fake agent (real HTTP, no QEMU): a create that succeeds, a start that
// fails with QEMU's own words, abort, one-task-per-VM conflicts, clone, console, delete, and
// what heartbeats do to VM records (adoption, a VM the host no longer reports).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runController, type RunningController } from '../../src/controller/index.js';
import { controllerClient, openEvents } from '../../src/testing/controller/client.js';
import { FakeAgent } from '../../src/testing/controller/fake-agent.js';
import { TestPki } from '../../src/testing/pki.js';

const ADMIN = 'admin-token-for-tests';
const pki = new TestPki();
const QEMU_WORDS = "qemu-system-x86_64: cannot set up guest memory 'pc.ram': Cannot allocate memory";

describe('controller VM tasks', () => {
  let dir: string;
  let ctl: RunningController;
  const agent = new FakeAgent('h1', pki);
  const c = controllerClient(() => ctl.url, ADMIN, pki);
  const { api, finished } = c;
  const beat = () => c.beat(agent);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-ctl-tasks-'));
    await pki.seed(dir);
    await agent.listen();
    // Hosts stay up for the whole file: these tests are about tasks, not heartbeats.
    ctl = await runController({ dataDir: dir, adminToken: ADMIN, hostDownAfterMs: 600_000 });
    assert.equal((await beat()).status, 200);
  });
  after(async () => {
    await ctl.close();
    await agent.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates and starts a VM; the task reports progress and the VM as its result', async () => {
    const events = await openEvents(ctl.url, ADMIN);
    try {
      const r = await api('POST', '/vms', { name: 'web1', memoryMiB: 128, workload: 'dirty:8:32' });
      assert.equal(r.status, 202);
      assert.equal(r.body.state, 'queued');
      assert.equal(r.body.target, 'vm/web1');
      const t = await finished(r.body.id);
      assert.equal(t.state, 'succeeded', JSON.stringify(t));
      assert.equal(t.progress, 100);
      assert.equal(t.result.name, 'web1');
      assert.equal(t.result.state, 'running');
      assert.deepEqual(agent.calls.slice(-2), ['define web1', 'start web1']);
      const vm = (await api('GET', '/vms/web1')).body;
      assert.equal(vm.state, 'running');
      assert.equal(vm.workload, 'dirty:8:32');
      assert.equal(agent.vms.get('web1')?.uuid, vm.uuid);
      // The stream saw the task run and finish, with progress never going back.
      await events.next((e) => e.event === 'task' && e.data.task.id === r.body.id && e.data.task.state === 'succeeded');
      const progress = events.events.filter((e) => e.event === 'task' && e.data.task.id === r.body.id).map((e) => e.data.task.progress as number);
      assert.deepEqual(progress, [...progress].sort((a, b) => a - b));
      await events.next((e) => e.event === 'vm' && e.data.vm.name === 'web1' && e.data.vm.state === 'running');
      const host = (await api('GET', '/hosts')).body[0];
      assert.equal(host.memoryAllocatedMiB, 128);
      assert.equal(host.vmCount, 1);
    } finally {
      events.close();
    }
  });

  it("fails a task with QEMU's message verbatim and keeps the defined VM", async () => {
    agent.failNext('start', { status: 502, code: 'QEMU_FAILED', message: QEMU_WORDS });
    const r = await api('POST', '/vms', { name: 'big', memoryMiB: 256 });
    const t = await finished(r.body.id);
    assert.equal(t.state, 'failed');
    assert.deepEqual(t.error, { code: 'QEMU_FAILED', message: QEMU_WORDS });
    const vm = (await api('GET', '/vms/big')).body;
    assert.equal(vm.state, 'stopped');
    assert.equal(vm.error, QEMU_WORDS);
    assert.ok(agent.vms.has('big'));
  });

  it('removes the record when the define itself fails', async () => {
    agent.failNext('define', { status: 502, code: 'QEMU_FAILED', message: 'qemu-img: disk too large' });
    const r = await api('POST', '/vms', { name: 'nodisk', memoryMiB: 64 });
    const t = await finished(r.body.id);
    assert.equal(t.error.message, 'qemu-img: disk too large');
    assert.equal((await api('GET', '/vms/nodisk')).status, 404);
  });

  it('runs one task per VM, and aborts a running task through its signal', async () => {
    const held = agent.hold('pause');
    const r = await api('POST', '/vms/web1/pause', {});
    assert.equal(r.status, 202);
    await held.reached;
    const busy = await api('POST', '/vms/web1/stop', {});
    assert.equal(busy.status, 409);
    assert.equal(busy.body.error.code, 'CONFLICT');
    assert.match(busy.body.error.message, new RegExp(r.body.id));
    const a = await api('POST', `/tasks/${r.body.id}/abort`, {});
    assert.equal(a.status, 200);
    const t = await finished(r.body.id);
    assert.equal(t.state, 'aborted');
    assert.equal(t.error.code, 'ABORTED');
    held.release();
    // Aborting again is harmless; the VM is free for the next action.
    assert.equal((await api('POST', `/tasks/${r.body.id}/abort`, {})).status, 200);
    const next = await api('POST', '/vms/web1/pause', {});
    assert.equal(next.status, 202);
    assert.equal((await finished(next.body.id)).state, 'succeeded');
    assert.equal((await api('GET', '/vms/web1')).body.state, 'paused');
    const done = await api('POST', `/tasks/${next.body.id}/abort`, {});
    assert.equal(done.status, 409);
    assert.equal(done.body.error.code, 'INVALID_STATE');
  });

  it('clones a VM on its host and starts the clone', async () => {
    const r = await api('POST', '/vms/web1/clone', { name: 'web2' });
    assert.equal(r.status, 202);
    const t = await finished(r.body.id);
    assert.equal(t.state, 'succeeded', JSON.stringify(t));
    assert.equal(t.result.name, 'web2');
    assert.equal(t.result.host, 'h1');
    assert.equal(t.result.state, 'running');
    const src = (await api('GET', '/vms/web1')).body;
    assert.notEqual(t.result.uuid, src.uuid);
    assert.equal((await api('POST', '/vms/web1/clone', { name: 'web2' })).body.error.code, 'CONFLICT');
  });

  it('proxies the console from the VM host', async () => {
    const r = await api('GET', '/vms/web1/console?tailBytes=100');
    assert.equal(r.status, 200);
    assert.match(r.contentType, /^text\/plain/);
    assert.match(r.text, /ferry-heartbeat seq=1 bad=0/);
  });

  it('deletes a stopped VM and announces vm.removed; refuses to delete a running one', async () => {
    const refused = await api('DELETE', '/vms/web2');
    assert.equal(refused.status, 409);
    assert.equal(refused.body.error.code, 'INVALID_STATE');
    const events = await openEvents(ctl.url, ADMIN);
    try {
      const stop = await api('POST', '/vms/web2/stop', { force: true });
      assert.equal((await finished(stop.body.id)).state, 'succeeded');
      const del = await api('DELETE', '/vms/web2');
      assert.equal(del.status, 202);
      assert.equal((await finished(del.body.id)).state, 'succeeded');
      await events.next((e) => e.event === 'vm.removed' && e.data.name === 'web2');
      assert.equal((await api('GET', '/vms/web2')).status, 404);
      assert.ok(!agent.vms.has('web2'));
    } finally {
      events.close();
    }
  });

  it('takes VM state from heartbeats, adopts unknown VMs and notes missing ones', async () => {
    const web1 = agent.vms.get('web1')!;
    agent.vms.set('web1', { ...web1, state: 'crashed', error: 'guest panicked' });
    const spec = { ...web1.spec, name: 'stray', uuid: '6f1c1c52-6f0e-4c5a-9a55-0c8f3f1a7f11' };
    agent.vms.set('stray', { name: 'stray', uuid: spec.uuid, state: 'running', spec, endpoints: [] });
    agent.vms.delete('big');
    assert.equal((await beat()).status, 200);
    const vms = (await api('GET', '/vms')).body as { name: string; state: string; error?: string; host: string }[];
    const by = new Map(vms.map((v) => [v.name, v]));
    assert.equal(by.get('web1')?.state, 'crashed');
    assert.equal(by.get('web1')?.error, 'guest panicked');
    assert.equal(by.get('stray')?.state, 'running');
    assert.equal(by.get('stray')?.host, 'h1');
    assert.equal(by.get('big')?.error, 'host h1 does not report this VM');
    const status = (await api('GET', '/status')).body;
    assert.equal(status.vms.crashed, 1);
    assert.equal(status.hosts.up, 1);
  });
});
