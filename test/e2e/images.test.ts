// A real distribution guest end to end through the CLI, on `ferry up --sites main:3,dr:1`: a
// Debian bookworm built from Debian packages by guest/debian/build.sh (systemd, redis; Debian's
// cloud kernel) is imported on host3 — the only host with the files — as three library images;
// `ferry vm create --image --kernel --initrd --port` makes a VM on host1, which fetches them;
// redis answers through a service endpoint and keeps what was written (in memory and saved to
// disk) across a live migration to host2, which never held the disk image (it fetches only the
// kernel and initrd), and a planned failover to the DR site's host4. What is checked of the
// guest is what Ferry sees of any guest — QEMU's state, qemu-guest-agent's ping, the service's
// port (`ferry vm health`, and the failover report's checks) — and the service's own answers;
// no demo-guest heartbeat. Last, `ferry vm console --attach` types into the guest's shell on its
// serial console at the host it runs on now and reads the answer.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Vm } from '../../src/contracts/controller-api.js';
import type { CheckpointRecord, FailoverReport } from '../../src/contracts/dr.js';
import type { ServiceEndpoint } from '../../src/contracts/endpoints.js';
import type { ImageRecord } from '../../src/contracts/images.js';
import type { GuestHealth } from '../../src/contracts/guest-health.js';
import type { MigrationRecord } from '../../src/contracts/migration.js';
import { redisCommand } from '../../src/testing/redis.js';
import { waitFor } from '../../src/testing/wait-for.js';
import { BIN, TestCluster } from './harness.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DEBIAN = process.env.FERRY_DEBIAN_OUT ?? join(ROOT, 'build', 'debian');
const VM = 'deb';

describe('a Debian guest from the image library, end to end', { timeout: 15 * 60_000 }, () => {
  const c = new TestCluster();
  let url = '';

  const redis = (args: string[]): Promise<string> => redisCommand(url, args);
  const redisAnswers = (why: string): Promise<string> =>
    waitFor(why, async () => (await redis(['PING']).catch(() => undefined)) === 'PONG' ? 'ok' : undefined, { timeoutMs: 180_000, everyMs: 1000 });

  /** `vm health` sees QEMU running, the guest agent answering and redis's port open. */
  const healthy = (where: string): Promise<GuestHealth> =>
    waitFor(`health ${where}`, async () => {
      const h = await c.json<GuestHealth>(['vm', 'health', VM]).catch(() => undefined);
      return h?.ok ? h : undefined;
    }, { timeoutMs: 120_000, everyMs: 1000 }).then((h) => {
      assert.deepEqual(h.items.map((i) => i.name), ['qemu', 'guest-agent', 'port 6379']);
      return h;
    });

  before(async () => {
    // Cached: a no-op once built (scripts/setup.sh builds it on a fresh machine).
    if (!existsSync(join(DEBIAN, 'rootfs.qcow2'))) execFileSync('bash', [join(ROOT, 'guest', 'debian', 'build.sh')], { stdio: 'inherit' });
    await c.ok(['up', '--sites', 'main:3,dr:1', '--port', '0', '--accel', 'tcg']);
  });

  after(async () => {
    await c.cleanup();
  });

  it('imports on the host that has the files; the format comes from the content', async () => {
    // Only host3 has the files, under the directory its agent allows for images (<data-dir>/images).
    const dir = join(c.home, 'hosts', 'host3', 'images');
    mkdirSync(dir, { recursive: true });
    for (const f of ['vmlinuz', 'initrd.img', 'rootfs.qcow2']) copyFileSync(join(DEBIAN, f), join(dir, `debian-${f}.bin`));
    const kernel = await c.json<ImageRecord>(['image', 'import', join(dir, 'debian-vmlinuz.bin'), 'deb-kernel', '--host', 'host3']);
    const initrd = await c.json<ImageRecord>(['image', 'import', join(dir, 'debian-initrd.img.bin'), 'deb-initrd', '--host', 'host3']);
    const root = await c.json<ImageRecord>(['image', 'import', join(dir, 'debian-rootfs.qcow2.bin'), 'deb-root', '--host', 'host3']);
    assert.deepEqual([kernel.format, initrd.format, root.format], ['kernel', 'initrd', 'qcow2']);
    assert.equal(root.virtualSize, 1024 * 1024 * 1024);
    assert.ok(root.storedBytes > 0 && root.storedBytes < root.virtualSize, `stored ${root.storedBytes} of ${root.virtualSize}`);
    const list = await c.json<ImageRecord[]>(['image', 'list']);
    assert.deepEqual(list.map((i) => [i.name, i.hosts]), [['deb-initrd', ['host3']], ['deb-kernel', ['host3']], ['deb-root', ['host3']]]);
    const dup = await c.run(['image', 'import', join(dir, 'debian-vmlinuz.bin'), 'deb-kernel', '--host', 'host3']);
    assert.notEqual(dup.code, 0);
    assert.match(dup.stderr, /already exists.*\(CONFLICT\)/);
  });

  it('vm create from the library on another host: the service answers', async () => {
    const vm = await c.json<Vm>(['vm', 'create', VM, '--memory', '384', '--image', 'deb-root', '--kernel', 'deb-kernel', '--initrd', 'deb-initrd',
      '--append', 'console=ttyS0 root=/dev/vda', '--port', '6379', '--guest-agent', '--host', 'host1']);
    assert.equal(vm.state, 'running');
    assert.equal(vm.host, 'host1');
    const ep = await c.json<ServiceEndpoint>(['vm', 'expose', VM, '--port', '6379']);
    url = ep.url;
    await redisAnswers('redis answers in the Debian guest');
    await healthy('on host1');
    assert.equal(await redis(['SET', 'ferry:greeting', 'hello from before the moves']), 'OK');
    assert.equal(await redis(['SAVE']), 'OK'); // and on disk: /var/lib/redis/dump.rdb
    const images = await c.json<ImageRecord[]>(['image', 'list']);
    for (const i of images) assert.deepEqual(i.hosts.sort(), ['host1', 'host3'], `${i.name} was fetched to host1`);
    assert.deepEqual(images.map((i) => i.usedBy), [[VM], [VM], [VM]]);
    const rm = await c.run(['image', 'rm', 'deb-kernel']);
    assert.notEqual(rm.code, 0, 'an image a VM uses cannot be removed');
    assert.match(rm.stderr, /used by deb/);
  });

  it('live migration to a host that never held the disk image: the data is still there', async () => {
    const rec = await c.json<MigrationRecord>(['vm', 'migrate', VM, '--to', 'host2']);
    assert.equal(rec.outcome, 'succeeded', JSON.stringify(rec));
    console.log(`migration host1 -> host2: total ${rec.totalMs} ms, downtime ${rec.downtimeMs} ms, wire ${rec.wireBytes} bytes`);
    assert.equal((await c.json<Vm>(['vm', 'show', VM])).state, 'running');
    await redisAnswers('redis answers on host2');
    await healthy('on host2');
    assert.equal(await redis(['GET', 'ferry:greeting']), 'hello from before the moves');
    // What was saved to disk came along too: reload the dataset from the disk.
    assert.equal(await redis(['DEBUG', 'RELOAD']), 'OK');
    assert.equal(await redis(['GET', 'ferry:greeting']), 'hello from before the moves');
    const images = new Map((await c.json<ImageRecord[]>(['image', 'list'])).map((i) => [i.name, i.hosts.sort()]));
    assert.deepEqual(images.get('deb-root'), ['host1', 'host3'], 'the disk migrated with the VM; host2 never fetched its base');
    assert.deepEqual(images.get('deb-kernel'), ['host1', 'host2', 'host3']);
  });

  it('a planned failover to the DR site: the data is there too', async () => {
    assert.equal(await redis(['SET', 'ferry:greeting', 'hello from host2']), 'OK');
    await c.ok(['dr', 'protect', VM, '--to', 'dr', '--rpo', '60s']);
    await waitFor('a checkpoint at the DR site', async () => (await c.json<CheckpointRecord[]>(['dr', 'checkpoints', VM])).length > 0, { timeoutMs: 300_000, everyMs: 2000 });
    const report = await c.json<FailoverReport>(['dr', 'failover', VM, '--planned']);
    assert.equal(report.outcome, 'succeeded', JSON.stringify(report));
    // Not the demo guest: the report says what it checked — QEMU, the guest agent, the service's port.
    assert.deepEqual(report.checks.filter((ch) => ['qemu', 'guest-agent', 'port 6379'].includes(ch.name)).map((ch) => [ch.name, ch.passed]), [['qemu', true], ['guest-agent', true], ['port 6379', true]]);
    console.log(`planned failover host2 -> host4: time to running ${report.timeToRunningMs} ms, data window ${report.dataWindowMs} ms`);
    const vm = await c.json<Vm>(['vm', 'show', VM]);
    assert.equal(vm.host, 'host4');
    assert.equal(vm.state, 'running');
    await redisAnswers('redis answers at the DR site');
    assert.equal(await redis(['GET', 'ferry:greeting']), 'hello from host2');
  });

  it('vm console --attach: type into the serial console where the VM runs now (host4) and see the answer; Ctrl-] leaves', async () => {
    const child = spawn(process.execPath, [BIN, 'vm', 'console', VM, '--attach'], { env: c.env(), stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('latin1')));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      // The guest's root shell (autologin on ttyS0) computes what we ask, so the answer cannot be our own echo.
      await waitFor('the guest answers on its serial console', async () => {
        child.stdin.write('echo ferry-$((6*7))\r');
        return out.includes('ferry-42') ? true : undefined;
      }, { timeoutMs: 60_000, everyMs: 2000 });
      child.stdin.write(Buffer.from([0x1d]));
      assert.equal(await exited, 0);
    } finally {
      if (child.exitCode === null) child.kill();
    }
  });
});
