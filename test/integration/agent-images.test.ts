// The image library between two agents, real files and real QEMU: imports detect the format from
// the content (a kernel, an initrd, qcow2, raw; the name says nothing), refuse a path the agent
// does not allow (400 naming body.path); a host that lacks an image fetches it over ferry-wire
// and a second image with the same content costs no new chunk; a VM on that host boots the
// library's kernel and initrd and layers its disk on a library image (the demo guest's
// heartbeat counts, its disk works).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { ApiClient, FerryError, type ImageJobProgress, type VmSpec } from '../../src/contracts/index.js';
import { MigrationLab } from './migration-lab.js';
import { P, consoleOf, demoSpec, heartbeats, waitSeqAbove } from '../../src/testing/agent.js';
import { waitFor } from '../../src/testing/wait-for.js';
import { demoCmdline } from '../../src/agent/qemu-command.js';
import { defaultGuestDir } from '../../src/agent/index.js';

const lab = new MigrationLab('ferry-images');
let a: ApiClient;
let b: ApiClient;
let targetDataUrl: string;
const ids = { kernel: randomUUID(), initrd: randomUUID(), disk: randomUUID(), raw1: randomUUID(), raw2: randomUUID() };

async function job(c: ApiClient, first: ImageJobProgress): Promise<ImageJobProgress> {
  return waitFor(`image job ${first.id}`, async () => {
    const p = await c.get<ImageJobProgress>(`${P}/images/jobs/${first.id}`);
    return p.state === 'running' ? undefined : p;
  }, { timeoutMs: 120_000, everyMs: 100 });
}

async function importOn(c: ApiClient, imageId: string, path: string): Promise<ImageJobProgress> {
  const p = await job(c, await c.post<ImageJobProgress>(`${P}/images/import`, { jobId: randomUUID(), imageId, path }));
  assert.equal(p.state, 'done', p.error);
  return p;
}

/** b fetches the image from a, as the controller drives it. */
async function fetchToB(imageId: string, format: string): Promise<ImageJobProgress> {
  const jobId = randomUUID();
  const first = await b.post<ImageJobProgress>(`${P}/images/receive`, { jobId, imageId, fromHost: 'h1', format });
  await a.post(`${P}/images/send`, { jobId, imageId, targetHost: 'h2', targetDataUrl });
  const p = await job(b, first);
  assert.equal(p.state, 'done', p.error);
  return p;
}

before(async () => {
  ({ a, b, targetDataUrl } = await lab.startPair());
  const dir = lab.imagesDir();
  const guest = defaultGuestDir();
  // Names that lie: the content decides.
  copyFileSync(join(guest, 'vmlinuz'), join(dir, 'disk.img'));
  copyFileSync(join(guest, 'initrd.img'), join(dir, 'kernel.bin'));
  // 16 MiB raw with 1 MiB of data at 4 MiB (the rest are holes), and the same as qcow2.
  const raw = Buffer.alloc(16 * 1024 * 1024);
  randomBytes(1024 * 1024).copy(raw, 4 * 1024 * 1024);
  writeFileSync(join(dir, 'data.raw'), raw);
  writeFileSync(join(dir, 'copy.raw'), raw);
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', join(dir, 'data.raw'), join(dir, 'initrd.qcow2')]);
});

after(async () => {
  await lab.close();
});

test('imports detect the format from the content and refuse a path the agent does not allow', async () => {
  const dir = lab.imagesDir();
  assert.equal((await importOn(a, ids.kernel, join(dir, 'disk.img'))).facts?.format, 'kernel');
  assert.equal((await importOn(a, ids.initrd, join(dir, 'kernel.bin'))).facts?.format, 'initrd');
  const disk = await importOn(a, ids.disk, join(dir, 'initrd.qcow2'));
  assert.equal(disk.facts?.format, 'qcow2');
  assert.equal(disk.facts?.virtualSize, 16 * 1024 * 1024);
  const raw = await importOn(a, ids.raw1, join(dir, 'data.raw'));
  assert.equal(raw.facts?.format, 'raw');
  // Holes are not stored: 1 MiB of data in a 16 MiB file.
  assert.equal(raw.facts?.storedBytes, 1024 * 1024);
  await assert.rejects(a.post(`${P}/images/import`, { jobId: randomUUID(), imageId: randomUUID(), path: '/etc/shadow' }), (err: FerryError) => {
    assert.equal(err.code, 'INVALID_REQUEST');
    assert.equal(err.field, 'body.path');
    return true;
  });
  const held = await a.get<{ imageId: string }[]>(`${P}/images`);
  assert.deepEqual(new Set(held.map((h) => h.imageId)), new Set([ids.kernel, ids.initrd, ids.disk, ids.raw1]));
});

test('a host that lacks an image fetches it; the same content again costs no new chunk', async () => {
  await importOn(a, ids.raw2, join(lab.imagesDir(), 'copy.raw'));
  const first = await fetchToB(ids.raw1, 'raw');
  assert.equal(first.newBytes, 1024 * 1024, 'the chunks b lacked, and only those (holes never cross)');
  const second = await fetchToB(ids.raw2, 'raw');
  assert.equal(second.newBytes, 0, 'b already held every chunk of an image with the same content');
  console.log(`fetch: first image ${first.newBytes} new bytes, second (same content) ${second.newBytes}`);
});

test('a VM boots the library kernel and initrd on a host that fetched them, its disk layered on a library image', async () => {
  for (const [id, format] of [[ids.kernel, 'kernel'], [ids.initrd, 'initrd'], [ids.disk, 'qcow2']] as const) await fetchToB(id, format);
  const base = demoSpec('img1', { memoryMiB: 128, workload: 'idle' });
  const spec: VmSpec = {
    ...base,
    boot: { kind: 'image', kernel: { name: 'k', id: ids.kernel, format: 'kernel' }, initrd: { name: 'i', id: ids.initrd, format: 'initrd' }, cmdline: demoCmdline({ ...base, disks: [{ sizeMiB: 1 }] }) },
    disks: [{ fromImage: { name: 'd', id: ids.disk, format: 'qcow2', virtualSize: 16 * 1024 * 1024 } }],
  };
  await b.post(`${P}/vms`, spec);
  await b.post(`${P}/vms/img1/start`);
  await waitSeqAbove(b, 'img1', 3);
  const beats = heartbeats(await consoleOf(b, 'img1'));
  assert.equal(beats.at(-1)?.bad, 0);
  // In use: the image cannot go from this host.
  await assert.rejects(b.delete(`${P}/images/${ids.kernel}`), (err: FerryError) => err.code === 'CONFLICT');
  await b.post(`${P}/vms/img1/stop`, { force: true });
  await b.delete(`${P}/vms/img1`);
  await b.delete(`${P}/images/${ids.kernel}`);
  assert.ok(!(await b.get<{ imageId: string }[]>(`${P}/images`)).some((h) => h.imageId === ids.kernel));
});
