// The agent against real QEMU and the demo guest (accel tcg, no controller): every lifecycle
// action, observed through the guest's heartbeat on the console endpoint. VMs are shared
// between the tests of this file, which run in order.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, existsSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient, FerryError, type VmSpec, type VmStatus } from '../../src/contracts/index.js';
import { defaultGuestDir as agentGuestDir, runAgent, type RunningAgent } from '../../src/agent/index.js';
import { P, consoleOf, demoSpec, heartbeats, killQemus, lastSeq, pidAlive, sleep, statusOf, waitSeqAbove } from '../../src/testing/agent.js';
import { waitFor } from '../../src/testing/wait-for.js';
import { TestPki } from '../../src/testing/pki.js';

const pki = new TestPki();

let dataDir: string;
let agent: RunningAgent;
let c: ApiClient;

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'ferry-agent-lc-'));
  agent = await runAgent({ name: 'h1', site: 'main', dataDir, tls: await pki.identity('h1'), accel: 'tcg' });
  c = (await pki.agentClient(agent.url, 'h1'));
});

after(async () => {
  killQemus(dataDir);
  await agent?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function rejectsWith(p: Promise<unknown>, code: string, message?: RegExp): Promise<FerryError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof FerryError, `expected FerryError ${code}, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  if (message) assert.match(err.message, message);
  return err;
}

test("API requires a controller's certificate: another host's is refused, none fails the handshake", async () => {
  const asHost = await pki.dispatcher('host', 'h2', { role: 'host', name: 'h1' });
  await rejectsWith(new ApiClient(agent.url, '', { dispatcher: () => asHost }).get(`${P}/vms`), 'UNAUTHORIZED');
  await rejectsWith(new ApiClient(agent.url.replace('https:', 'http:'), '').get(`${P}/vms`), 'HOST_DOWN');
  const host = await c.get<{ accel: string; cpus: number; qemuVersion: string }>(`${P}/host`);
  assert.equal(host.accel, 'tcg');
  assert.ok(host.cpus >= 1);
  assert.match(host.qemuVersion, /^\d+\.\d+/);
});

test('a spec naming a host file outside the allowed image directories is a 400 naming the field', async () => {
  const images = join(dataDir, 'images');
  mkdirSync(images, { recursive: true });
  symlinkSync('/etc/shadow', join(images, 'escape'));
  const cases: [Partial<VmSpec>, string][] = [
    [{ boot: { kind: 'kernel', kernel: join(agentGuestDir(), 'vmlinuz'), initrd: '/etc/shadow' } }, 'body.boot.initrd'],
    [{ disks: [{ sizeMiB: 8 }, { image: '/etc/shadow' }] }, 'body.disks.1.image'],
    [{ boot: { kind: 'kernel', kernel: join(images, 'escape') } }, 'body.boot.kernel'],
  ];
  for (const [over, field] of cases) {
    const err = await rejectsWith(c.post(`${P}/vms`, demoSpec('snoop', over)), 'INVALID_REQUEST', /not under a directory this host allows/);
    assert.equal(err.field, field);
  }
  await rejectsWith(statusOf(c, 'snoop'), 'NOT_FOUND');
});

test('QEMU failing to start is QEMU_FAILED with QEMU\'s message', async () => {
  await c.post(`${P}/vms`, demoSpec('bad', { boot: { kind: 'kernel', kernel: join(dataDir, 'images', 'nonexistent', 'vmlinuz') } }));
  const err = await rejectsWith(c.post(`${P}/vms/bad/start`), 'QEMU_FAILED', /nonexistent\/vmlinuz/);
  assert.match(err.message, /qemu/i);
  const st = await statusOf(c, 'bad');
  assert.equal(st.state, 'stopped');
  assert.equal(st.error, err.message);
  await c.delete(`${P}/vms/bad`);
  await rejectsWith(statusOf(c, 'bad'), 'NOT_FOUND');
});

test('define, duplicate define, start: heartbeat counts up', async () => {
  const spec = demoSpec('a', { disks: [{ sizeMiB: 16 }], nics: [{ network: 'user', forwardPorts: [80] }] });
  const defined = await c.post<VmStatus>(`${P}/vms`, spec);
  assert.equal(defined.state, 'stopped');
  assert.ok(existsSync(join(dataDir, 'vms', 'a', 'disk0.qcow2')));
  await rejectsWith(c.post(`${P}/vms`, spec), 'CONFLICT');
  const st = await c.post<VmStatus>(`${P}/vms/a/start`);
  assert.equal(st.state, 'running');
  assert.equal(st.accel, 'tcg');
  assert.ok(st.pid && pidAlive(st.pid));
  assert.equal(st.endpoints.length, 1);
  assert.equal(st.endpoints[0]?.host, '127.0.0.1');
  const first = await waitSeqAbove(c, 'a', 0);
  await waitSeqAbove(c, 'a', first);
  const m = (await statusOf(c, 'a')).metrics;
  assert.ok(m && m.cpuSeconds > 0 && m.rssBytes > 0, JSON.stringify(m));
});

test('pause stops the heartbeat; resume continues from where it was', async () => {
  assert.equal((await c.post<VmStatus>(`${P}/vms/a/pause`)).state, 'paused');
  const atPause = lastSeq(await consoleOf(c, 'a'));
  await sleep(3000);
  const later = lastSeq(await consoleOf(c, 'a'));
  assert.ok(later <= atPause + 1, `seq moved while paused: ${atPause} -> ${later}`);
  await rejectsWith(c.post(`${P}/vms/a/pause`), 'INVALID_STATE', /cannot pause VM a: it is paused/);
  assert.equal((await c.post<VmStatus>(`${P}/vms/a/resume`)).state, 'running');
  await waitSeqAbove(c, 'a', later);
  const seqs = heartbeats(await consoleOf(c, 'a'));
  assert.equal(seqs.filter((h) => h.seq === 0).length, 1, 'the guest did not restart');
  assert.ok(seqs.every((h) => h.bad === 0));
});

test('resize: the balloon reports the new size', async () => {
  await c.post(`${P}/vms/a/resize`, { memoryMiB: 96 });
  await waitFor('balloon at 96 MiB', async () => ((await statusOf(c, 'a')).metrics?.balloonBytes === 96 * 1024 * 1024 ? true : undefined), { timeoutMs: 30_000 });
  await rejectsWith(c.post(`${P}/vms/a/resize`, { memoryMiB: 4096 }), 'INVALID_REQUEST');
  await c.post(`${P}/vms/a/resize`, { memoryMiB: 128 });
});

test('suspend ends QEMU; restore continues the heartbeat above the pre-suspend value', async () => {
  const pid = (await statusOf(c, 'a')).pid!;
  const st = await c.post<VmStatus>(`${P}/vms/a/suspend`);
  assert.equal(st.state, 'suspended');
  assert.equal(st.pid, undefined);
  await waitFor('suspended QEMU gone', () => (pidAlive(pid) ? undefined : true), { timeoutMs: 10_000 });
  const before = lastSeq(await consoleOf(c, 'a'));
  assert.ok(existsSync(join(dataDir, 'vms', 'a', 'suspend.state')));
  const restored = await c.post<VmStatus>(`${P}/vms/a/restore`);
  assert.equal(restored.state, 'running');
  assert.notEqual(restored.pid, pid);
  await waitSeqAbove(c, 'a', before);
  assert.equal(heartbeats(await consoleOf(c, 'a')).filter((h) => h.seq === 0).length, 1, 'the guest did not reboot');
  assert.ok(!existsSync(join(dataDir, 'vms', 'a', 'suspend.state')));
});

test('graceful stop: the guest powers off', async () => {
  const st = await c.post<VmStatus>(`${P}/vms/a/stop`, { timeoutMs: 60_000 });
  assert.equal(st.state, 'stopped');
  assert.equal(st.error, undefined);
  assert.match(await consoleOf(c, 'a'), /ferry-poweroff reason=power-button/);
  await rejectsWith(c.post(`${P}/vms/a/pause`), 'INVALID_STATE', /cannot pause VM a: it is stopped/);
  await rejectsWith(c.post(`${P}/vms/a/stop`), 'INVALID_STATE');
});

test('clones of a stopped VM (full and linked) run independently', async () => {
  const a = await statusOf(c, 'a');
  const b = await c.post<VmStatus>(`${P}/vms/a/clone`, { name: 'b', uuid: demoSpec('x').uuid, linked: false });
  const l = await c.post<VmStatus>(`${P}/vms/a/clone`, { name: 'l', uuid: demoSpec('x').uuid, linked: true });
  assert.equal(b.state, 'stopped');
  assert.equal(l.state, 'stopped');
  assert.notEqual(b.uuid, a.uuid);
  assert.ok(existsSync(join(dataDir, 'vms', 'l', 'base-disk0.qcow2')));
  await rejectsWith(c.post(`${P}/vms/a/clone`, { name: 'b', uuid: demoSpec('x').uuid, linked: false }), 'CONFLICT');
  await c.post(`${P}/vms/b/start`);
  await c.post(`${P}/vms/l/start`);
  const before = lastSeq(await consoleOf(c, 'b'));
  assert.equal(before, -1, 'the clone has its own console');
  await waitSeqAbove(c, 'b', 1);
  await waitSeqAbove(c, 'l', 1);
  const [sb, sl] = await Promise.all([statusOf(c, 'b'), statusOf(c, 'l')]);
  assert.notEqual(sb.pid, sl.pid);
  assert.equal((await statusOf(c, 'a')).state, 'stopped');
  await rejectsWith(c.delete(`${P}/vms/b`), 'INVALID_STATE', /cannot delete VM b: it is running/);
  // A running VM is cloned crash-consistently: paused for the copy, then running again.
  const r = await c.post<VmStatus>(`${P}/vms/b/clone`, { name: 'rc', uuid: demoSpec('x').uuid, linked: false });
  assert.equal(r.state, 'stopped');
  assert.ok(existsSync(join(dataDir, 'vms', 'rc', 'disk0.qcow2')));
  assert.equal((await statusOf(c, 'b')).state, 'running');
  const bSeq = lastSeq(await consoleOf(c, 'b'));
  await waitSeqAbove(c, 'b', bSeq);
  await c.delete(`${P}/vms/rc`);
  assert.equal((await c.post<VmStatus>(`${P}/vms/l/stop`, { force: true })).state, 'stopped');
  await c.delete(`${P}/vms/l`);
  assert.ok(!existsSync(join(dataDir, 'vms', 'l')));
});

test('QEMU killed behind the agent\'s back: the VM becomes crashed', async () => {
  const pid = (await statusOf(c, 'b')).pid!;
  process.kill(pid, 'SIGKILL');
  const st = await waitFor('b crashed', async () => {
    const s = await statusOf(c, 'b');
    return s.state === 'crashed' ? s : undefined;
  }, { timeoutMs: 20_000 });
  assert.match(st.error ?? '', /exited/);
  assert.equal((await c.post<VmStatus>(`${P}/vms/b/stop`)).state, 'stopped');
  await c.delete(`${P}/vms/b`);
  await c.delete(`${P}/vms/a`);
  assert.deepEqual(await c.get(`${P}/vms`), []);
});
