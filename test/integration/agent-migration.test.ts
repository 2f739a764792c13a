// Live migration between two agents in this process (separate data dirs), real QEMU and the
// demo guest, driven through the agent API the way the controller drives it: incoming on the
// target, outgoing on the source, poll, commit target then source (or abort). The guest's
// heartbeat shows the VM kept running and its memory arrived intact (bad=0).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';

import { join } from 'node:path';
import { ApiClient, FerryError, type MeasureResult, type MigrationProgress, type VmSpec } from '../../src/contracts/index.js';

import { findQemuPids } from '../../src/agent/index.js';
import { MigrationLab } from './migration-lab.js';
import { P, consoleOf, demoSpec, heartbeats, lastSeq, statusOf, waitSeqAbove } from '../../src/testing/agent.js';
import { waitFor } from '../../src/testing/wait-for.js';

const lab = new MigrationLab('ferry-mig');
const { dirs, agents } = lab;
let a: ApiClient;
let b: ApiClient;
let targetDataUrl: string;

before(async () => {
  ({ a, b, targetDataUrl } = await lab.startPair());
});

after(async () => {
  await lab.close();
});

async function bootVm(spec: VmSpec): Promise<number> {
  await a.post(`${P}/vms`, spec);
  await a.post(`${P}/vms/${spec.name}/start`);
  return waitSeqAbove(a, spec.name, 2);
}

interface Started { id: string; percents: number[] }

async function startMigration(spec: VmSpec, strategy: 'precopy' | 'postcopy' | 'hybrid', bandwidthBytesPerSec?: number): Promise<Started> {
  const id = randomUUID();
  const res = await b.post<MigrationProgress>(`${P}/migrations/incoming`, { migrationId: id, spec, sourceHost: 'h1', strategy, copyDisks: false });
  assert.equal(res.state, 'reserved');
  const out = await a.post<MigrationProgress>(`${P}/migrations/outgoing`, {
    migrationId: id, vm: spec.name, targetHost: 'h2', targetDataUrl, strategy, maxDowntimeMs: 300, transport: 'passthrough', copyDisks: false,
    ...(bandwidthBytesPerSec ? { bandwidthBytesPerSec } : {}),
  });
  assert.equal(out.role, 'source');
  return { id, percents: [out.percent] };
}

/** Polls the source until the migration leaves `active`. */
async function waitSource(m: Started, timeoutMs = 180_000): Promise<MigrationProgress> {
  return waitFor(`migration ${m.id} to end`, async () => {
    const p = await a.get<MigrationProgress>(`${P}/migrations/${m.id}`);
    m.percents.push(p.percent);
    return p.state === 'active' || p.state === 'reserved' ? undefined : p;
  }, { timeoutMs, everyMs: 200 });
}

async function commitBoth(id: string): Promise<void> {
  const t = await waitFor('target completed', async () => {
    const p = await b.get<MigrationProgress>(`${P}/migrations/${id}`);
    return p.state === 'active' ? undefined : p;
  }, { timeoutMs: 30_000 });
  assert.equal(t.state, 'completed', JSON.stringify(t.error));
  assert.equal((await b.post<MigrationProgress>(`${P}/migrations/${id}/commit`)).state, 'committed');
  assert.equal((await a.post<MigrationProgress>(`${P}/migrations/${id}/commit`)).state, 'committed');
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof FerryError, `expected ${code}, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
}

test('idle VM, pre-copy: runs on the target afterwards, heartbeat continues, memory intact', async () => {
  const spec = demoSpec('m1');
  await bootVm(spec);
  const m = await startMigration(spec, 'precopy');
  await rejectsWith(a.post(`${P}/vms/m1/pause`), 'INVALID_STATE');
  const done = await waitSource(m);
  assert.equal(done.state, 'completed', JSON.stringify(done.error));
  const srcLast = lastSeq(await consoleOf(a, 'm1'));
  await commitBoth(m.id);
  assert.equal(done.percent, 100);
  for (let i = 1; i < m.percents.length; i++) assert.ok(m.percents[i]! >= m.percents[i - 1]!, `percent went back: ${m.percents.join(',')}`);
  assert.ok(done.totalMs !== undefined && done.totalMs > 0 && done.downtimeMs !== undefined);
  assert.ok(done.streamBytes > 0 && done.wireBytes > 0, JSON.stringify(done));
  console.log(`precopy idle 128 MiB: total ${done.totalMs} ms, downtime ${done.downtimeMs} ms, stream ${done.streamBytes} B, wire ${done.wireBytes} B, rounds ${done.rounds}`);

  await waitSeqAbove(b, 'm1', srcLast + 2);
  const hb = heartbeats(await consoleOf(b, 'm1'));
  assert.ok(hb.length > 0 && hb[0]!.seq >= srcLast, `target restarted from ${hb[0]?.seq}, source was at ${srcLast}`);
  assert.ok(hb.every((h) => h.bad === 0), JSON.stringify(hb));
  assert.equal((await statusOf(b, 'm1')).state, 'running');
  await rejectsWith(statusOf(a, 'm1'), 'NOT_FOUND');
  assert.equal(existsSync(join(dirs[0]!, 'vms', 'm1')), false);
  assert.deepEqual(findQemuPids(dirs[0]!), []);
});

test('dirtying VM with post-copy: completes after switching, memory intact', async () => {
  const spec = demoSpec('m2', { memoryMiB: 256, workload: 'dirty:64:128' });
  await bootVm(spec);
  const m = await startMigration(spec, 'postcopy', 32 * 1024 * 1024);
  const done = await waitSource(m);
  assert.equal(done.state, 'completed', JSON.stringify(done.error));
  assert.equal(done.switchedToPostcopy, true);
  console.log(`postcopy dirty 256 MiB: total ${done.totalMs} ms, downtime ${done.downtimeMs} ms, stream ${done.streamBytes} B, wire ${done.wireBytes} B, rounds ${done.rounds}`);
  await commitBoth(m.id);
  const first = await waitSeqAbove(b, 'm2', 0);
  await waitSeqAbove(b, 'm2', first + 3);
  const hb = heartbeats(await consoleOf(b, 'm2'));
  assert.ok(hb.every((h) => h.bad === 0), JSON.stringify(hb.slice(-5)));
  await b.post(`${P}/vms/m2/stop`, { force: true });
});

test('sessions nobody expects, or from/to the wrong host, are refused; the VM keeps running untouched', async () => {
  const spec = demoSpec('m3');
  await bootVm(spec);
  await rejectsWith(a.post(`${P}/migrations/outgoing`, {
    migrationId: randomUUID(), vm: 'm3', targetHost: 'h2', targetDataUrl, strategy: 'precopy', maxDowntimeMs: 300, transport: 'passthrough', copyDisks: false,
  }), 'NOT_FOUND');
  assert.equal((await statusOf(a, 'm3')).state, 'running');
  // Expected from another host: the source's certificate says h1, so it is refused.
  const id = randomUUID();
  await b.post(`${P}/migrations/incoming`, { migrationId: id, spec: demoSpec('m9'), sourceHost: 'h9', strategy: 'precopy', copyDisks: false });
  await rejectsWith(a.post(`${P}/migrations/outgoing`, {
    migrationId: id, vm: 'm3', targetHost: 'h2', targetDataUrl, strategy: 'precopy', maxDowntimeMs: 300, transport: 'passthrough', copyDisks: false,
  }), 'UNAUTHORIZED');
  // A target that is not who the controller named: the source refuses its certificate.
  await rejectsWith(a.post(`${P}/migrations/outgoing`, {
    migrationId: randomUUID(), vm: 'm3', targetHost: 'h7', targetDataUrl, strategy: 'precopy', maxDowntimeMs: 300, transport: 'passthrough', copyDisks: false,
  }), 'HOST_DOWN');
  assert.equal((await b.post<MigrationProgress>(`${P}/migrations/${id}/abort`)).state, 'aborted');
  assert.equal((await statusOf(a, 'm3')).state, 'running');
  await rejectsWith(b.post(`${P}/migrations/incoming`, { migrationId: randomUUID(), spec: demoSpec('m1'), sourceHost: 'h1', strategy: 'precopy', copyDisks: false }), 'CONFLICT');
});

test('measure: dirty rate of the VM and the link to the target', async () => {
  const r = await a.post<MeasureResult>(`${P}/migrations/measure`, { vm: 'm3', targetHost: 'h2', targetDataUrl, dirtyRateSeconds: 1 });
  assert.equal(r.memoryBytes, 128 * 1024 * 1024);
  assert.ok(r.dirtyRateBytesPerSec >= 0 && r.linkBytesPerSec > 0 && r.rttMs >= 0, JSON.stringify(r));
  console.log(`measure: ${JSON.stringify(r)}`);
});

async function waitBytesFlowing(id: string): Promise<void> {
  await waitFor('stream bytes flowing', async () => {
    const p = await a.get<MigrationProgress>(`${P}/migrations/${id}`);
    assert.equal(p.state, 'active', JSON.stringify(p.error));
    return p.streamBytes > 512 * 1024 ? true : undefined;
  }, { timeoutMs: 60_000, everyMs: 200 });
}

test('abort mid-transfer: the VM keeps running at the source, the target keeps nothing', async () => {
  const targetPids = findQemuPids(dirs[1]!);
  const m = await startMigration(demoSpec('m3', { uuid: (await statusOf(a, 'm3')).uuid }), 'precopy', 256 * 1024);
  await waitBytesFlowing(m.id);
  const before = lastSeq(await consoleOf(a, 'm3'));
  const ab = await a.post<MigrationProgress>(`${P}/migrations/${m.id}/abort`);
  assert.equal(ab.state, 'aborted');
  assert.equal((await b.post<MigrationProgress>(`${P}/migrations/${m.id}/abort`)).state, 'aborted');
  assert.equal((await b.post<MigrationProgress>(`${P}/migrations/${m.id}/abort`)).state, 'aborted'); // idempotent
  assert.equal((await statusOf(a, 'm3')).state, 'running');
  await waitSeqAbove(a, 'm3', before + 2);
  assert.equal(existsSync(join(dirs[1]!, 'vms', 'm3')), false);
  assert.deepEqual(findQemuPids(dirs[1]!), targetPids);
});

test('target agent goes away mid-transfer: the source reports failed and the VM keeps running', async () => {
  const m = await startMigration(demoSpec('m3', { uuid: (await statusOf(a, 'm3')).uuid }), 'precopy', 256 * 1024);
  await waitBytesFlowing(m.id);
  await agents[1]!.close();
  const done = await waitSource(m, 60_000);
  assert.equal(done.state, 'failed');
  assert.ok(done.error && done.error.message.length > 0);
  console.log(`target lost: ${done.error.code}: ${done.error.message}`);
  const before = lastSeq(await consoleOf(a, 'm3'));
  await waitSeqAbove(a, 'm3', before + 2);
  assert.equal((await statusOf(a, 'm3')).state, 'running');
  await a.post(`${P}/vms/m3/pause`); // actions work again after the migration ended
  await a.post(`${P}/vms/m3/resume`);
});
