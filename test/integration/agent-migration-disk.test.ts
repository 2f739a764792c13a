// Live migration of a VM with a local disk (no shared storage) between two agents in this
// process: the disk is mirrored over NBD through the ferry-wire session, then the memory
// migrates. The demo guest writes a counter to its disk every second, so the disk's state
// is visible on its heartbeat (`disk=N`) and in sector 0 of the qcow2 (guest/README.md).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient, type MigrationProgress, type VmSpec } from '../../src/contracts/index.js';

import { findQemuPids } from '../../src/agent/index.js';
import { QEMU_IMG } from '../../src/agent/qemu-command.js';
import { MigrationLab } from './migration-lab.js';
import { P, consoleOf, demoSpec, heartbeats, lastSeq, statusOf, waitSeqAbove } from '../../src/testing/agent.js';
import { waitFor } from '../../src/testing/wait-for.js';

const lab = new MigrationLab('ferry-migdisk');
const { dirs } = lab;
let a: ApiClient;
let b: ApiClient;
let targetDataUrl: string;

before(async () => {
  ({ a, b, targetDataUrl } = await lab.startPair());
});

after(async () => {
  await lab.close();
});

const DISK = /ferry-heartbeat seq=\d+ bad=\d+ .*?disk=(\d+)/g;

/** The last `disk=N` counter on the VM's heartbeat (-1 if none yet). */
function lastDisk(text: string): number {
  const all = [...text.matchAll(DISK)];
  return all.length ? Number(all[all.length - 1]![1]) : -1;
}

function waitDiskAbove(c: ApiClient, name: string, above: number): Promise<number> {
  return waitFor(`${name} disk counter > ${above}`, async () => {
    const d = lastDisk(await consoleOf(c, name));
    return d > above ? d : undefined;
  }, { timeoutMs: 60_000 });
}

async function bootVm(spec: VmSpec): Promise<void> {
  await a.post(`${P}/vms`, spec);
  await a.post(`${P}/vms/${spec.name}/start`);
  await waitDiskAbove(a, spec.name, 1);
}

/** Memory over `transport`; the disks always cross on the ferry-wire session (NBD on channels 1..). */
async function startMigration(spec: VmSpec, transport: 'direct' | 'passthrough', bandwidthBytesPerSec?: number): Promise<string> {
  const id = randomUUID();
  const r = await b.post<MigrationProgress>(`${P}/migrations/incoming`, { migrationId: id, spec, sourceHost: 'h1', strategy: 'precopy', copyDisks: true, transport });
  await a.post(`${P}/migrations/outgoing`, {
    migrationId: id, vm: spec.name, targetHost: 'h2', targetDataUrl, strategy: 'precopy', maxDowntimeMs: 300, transport, copyDisks: true,
    ...(r.listenPort !== undefined ? { targetDirectPort: r.listenPort } : {}),
    ...(bandwidthBytesPerSec ? { bandwidthBytesPerSec } : {}),
  });
  return id;
}

/** Sector 0 of a qcow2 disk: magic FERRYDSK, counter u64 LE at offset 16. */
function diskCounter(qcow2: string): number {
  const out = join(mkdtempSync(join(tmpdir(), 'ferry-sector-')), 'rec.bin');
  try {
    execFileSync(QEMU_IMG, ['dd', '-f', 'qcow2', '-O', 'raw', 'bs=512', 'count=1', `if=${qcow2}`, `of=${out}`]);
    const rec = readFileSync(out);
    assert.equal(rec.subarray(0, 8).toString('latin1'), 'FERRYDSK');
    return Number(rec.readBigUInt64LE(16));
  } finally {
    rmSync(join(out, '..'), { recursive: true, force: true });
  }
}

test('VM with a local disk: the disk arrives over NBD and the guest keeps writing it at the target', async () => {
  const spec = demoSpec('d1', { disks: [{ sizeMiB: 64 }] });
  await bootVm(spec);
  const id = await startMigration(spec, 'direct');
  const percents: number[] = [];
  const done = await waitFor('source migration to end', async () => {
    const p = await a.get<MigrationProgress>(`${P}/migrations/${id}`);
    percents.push(p.percent);
    return p.state === 'active' || p.state === 'reserved' ? undefined : p;
  }, { timeoutMs: 180_000, everyMs: 200 });
  assert.equal(done.state, 'completed', JSON.stringify(done.error));
  for (let i = 1; i < percents.length; i++) assert.ok(percents[i]! >= percents[i - 1]!, `percent went back: ${percents.join(',')}`);
  const srcText = await consoleOf(a, 'd1');
  const srcSeq = lastSeq(srcText);
  const srcDisk = lastDisk(srcText);
  assert.ok(srcDisk > 0, srcText.slice(-500));

  const t = await waitFor('target completed', async () => {
    const p = await b.get<MigrationProgress>(`${P}/migrations/${id}`);
    return p.state === 'active' ? undefined : p;
  }, { timeoutMs: 30_000 });
  assert.equal(t.state, 'completed', JSON.stringify(t.error));
  assert.equal((await b.post<MigrationProgress>(`${P}/migrations/${id}/commit`)).state, 'committed');
  assert.equal((await a.post<MigrationProgress>(`${P}/migrations/${id}/commit`)).state, 'committed');
  // A 64 MiB disk that is mostly empty: the mirror still reads all of it, the stream carries at least the written sectors.
  assert.ok(done.streamBytes > 0 && done.wireBytes > 0, JSON.stringify(done));
  console.log(`disk migration 128 MiB RAM + 64 MiB disk: total ${done.totalMs} ms, downtime ${done.downtimeMs} ms, stream ${done.streamBytes} B, wire ${done.wireBytes} B, target stream ${t.streamBytes} B`);

  const tgtDisk = await waitDiskAbove(b, 'd1', srcDisk);
  await waitSeqAbove(b, 'd1', srcSeq + 2);
  const hb = heartbeats(await consoleOf(b, 'd1'));
  assert.ok(hb.length > 0 && hb[0]!.seq >= srcSeq && hb.every((h) => h.seq > 0), `target heartbeats start at ${hb[0]?.seq}, source was at ${srcSeq}`);
  assert.ok(hb.every((h) => h.bad === 0), JSON.stringify(hb));
  assert.equal((await statusOf(b, 'd1')).state, 'running');
  assert.equal(existsSync(join(dirs[0]!, 'vms', 'd1')), false);
  assert.deepEqual(findQemuPids(dirs[0]!), []);
  // The target's own NBD server and exports are gone.
  assert.deepEqual(readdirSync(join(dirs[1]!, 'vms', 'd1')).filter((f) => f.startsWith('nbd')), []);

  await b.post(`${P}/vms/d1/stop`);
  await waitFor('d1 stopped', async () => ((await statusOf(b, 'd1')).state === 'stopped' ? true : undefined), { timeoutMs: 60_000 });
  const onDisk = diskCounter(join(dirs[1]!, 'vms', 'd1', 'disk0.qcow2'));
  assert.ok(onDisk >= tgtDisk, `disk counter ${onDisk} on the target's qcow2, heartbeat showed ${tgtDisk}`);
  console.log(`disk counter: source last ${srcDisk}, target heartbeat ${tgtDisk}, target qcow2 after stop ${onDisk}`);
});

/** A 256 MiB qcow2 whose first 32 MiB hold random data: the mirror must really carry them. */
function dataImage(): { img: string; data: Buffer } {
  const dir = mkdtempSync(join(lab.imagesDir(), 'img-'));
  const raw = join(dir, 'data.raw');
  const data = randomBytes(32 * 1024 * 1024);
  writeFileSync(raw, data);
  const img = join(dir, 'data.qcow2');
  execFileSync(QEMU_IMG, ['convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, img]);
  execFileSync(QEMU_IMG, ['resize', '-q', img, '256M']);
  return { img, data };
}

test('disk with 32 MiB of data on a backing image: the target holds a standalone copy, byte for byte', async () => {
  const { img, data } = dataImage();
  const spec = demoSpec('d3', { disks: [{ image: img }] });
  await bootVm(spec);
  const id = await startMigration(spec, 'passthrough');
  const done = await waitFor('source migration to end', async () => {
    const p = await a.get<MigrationProgress>(`${P}/migrations/${id}`);
    return p.state === 'active' || p.state === 'reserved' ? undefined : p;
  }, { timeoutMs: 180_000, everyMs: 200 });
  assert.equal(done.state, 'completed', JSON.stringify(done.error));
  const srcDisk = lastDisk(await consoleOf(a, 'd3'));
  await waitFor('target completed', async () => ((await b.get<MigrationProgress>(`${P}/migrations/${id}`)).state === 'completed' ? true : undefined), { timeoutMs: 30_000 });
  assert.equal((await b.post<MigrationProgress>(`${P}/migrations/${id}/commit`)).state, 'committed');
  assert.equal((await a.post<MigrationProgress>(`${P}/migrations/${id}/commit`)).state, 'committed');
  assert.ok(done.streamBytes > data.length, `stream ${done.streamBytes} B carried less than the disk's data`);
  console.log(`disk migration 128 MiB RAM + 32 MiB disk data: total ${done.totalMs} ms, downtime ${done.downtimeMs} ms, stream ${done.streamBytes} B, wire ${done.wireBytes} B`);
  await waitDiskAbove(b, 'd3', srcDisk);
  await b.post(`${P}/vms/d3/stop`);
  await waitFor('d3 stopped', async () => ((await statusOf(b, 'd3')).state === 'stopped' ? true : undefined), { timeoutMs: 60_000 });
  const disk = join(dirs[1]!, 'vms', 'd3', 'disk0.qcow2');
  const info = JSON.parse(execFileSync(QEMU_IMG, ['info', '-U', '--output=json', disk], { encoding: 'utf8' })) as { 'virtual-size': number; 'backing-filename'?: string };
  assert.equal(info['virtual-size'], 256 * 1024 * 1024);
  assert.equal(info['backing-filename'], undefined);
  assert.ok(diskCounter(disk) > srcDisk);
  // Everything past the guest's record sectors is the image's data (qemu-img dd's count includes the skipped blocks).
  const out = join(dirs[1]!, 'data-back.raw');
  execFileSync(QEMU_IMG, ['dd', '-f', 'qcow2', '-O', 'raw', 'bs=1M', 'skip=1', 'count=32', `if=${disk}`, `of=${out}`]);
  assert.ok(readFileSync(out).equals(data.subarray(1024 * 1024)), 'the target disk differs from the source data');
});

test('abort mid-mirror: the VM keeps running at the source and writing its disk, the target keeps nothing', async () => {
  // 32 MiB of real data at 512 KiB/s: the mirror runs for about a minute; we abort after 1 MiB.
  const spec = demoSpec('d2', { disks: [{ image: dataImage().img }] });
  await bootVm(spec);
  const targetPids = findQemuPids(dirs[1]!);
  const id = await startMigration(spec, 'passthrough', 512 * 1024);
  await waitFor('disk bytes flowing', async () => {
    const p = await a.get<MigrationProgress>(`${P}/migrations/${id}`);
    assert.equal(p.state, 'active', JSON.stringify(p.error));
    return p.streamBytes > 1024 * 1024 ? p : undefined;
  }, { timeoutMs: 60_000, everyMs: 200 });
  const mid = await a.get<MigrationProgress>(`${P}/migrations/${id}`);
  assert.equal(mid.qemuStatus, 'mirroring-disks');
  assert.ok(mid.percent < 100 && mid.streamBytes < 32 * 1024 * 1024, JSON.stringify(mid));
  const before = lastDisk(await consoleOf(a, 'd2'));
  assert.equal((await a.post<MigrationProgress>(`${P}/migrations/${id}/abort`)).state, 'aborted');
  assert.equal((await b.post<MigrationProgress>(`${P}/migrations/${id}/abort`)).state, 'aborted');
  assert.equal((await statusOf(a, 'd2')).state, 'running');
  await waitDiskAbove(a, 'd2', before + 2);
  const hb = heartbeats(await consoleOf(a, 'd2'));
  assert.ok(hb.every((h) => h.bad === 0));
  assert.ok(!/err=/.test((await consoleOf(a, 'd2')).split('\n').filter((l) => l.includes('ferry-heartbeat')).slice(-1)[0] ?? ''), 'disk errors on the source after the abort');
  assert.equal(existsSync(join(dirs[1]!, 'vms', 'd2')), false);
  assert.deepEqual(findQemuPids(dirs[1]!), targetPids);
  // Actions work again, and a fresh migration attempt is possible: the mirror's nodes are gone.
  await a.post(`${P}/vms/d2/pause`);
  await a.post(`${P}/vms/d2/resume`);
  await a.post(`${P}/vms/d2/stop`, { force: true });
});
