// Disaster recovery between two agents in this process, real QEMU and the demo guest, driven
// through the agent API the way the controller drives it: the DR host expects a checkpoint,
// the protected host captures and sends it, the DR host's store commits it; restore starts a VM
// from it. The guest's heartbeat shows the copy continues from the instant captured, memory
// intact (bad=0); its disk counter shows the disk came along at the same instant.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ApiClient, type CheckpointProgress, type MigrationProgress, type StoredCheckpoint, type VmSpec, type VmStatus } from '../../src/contracts/index.js';
import { findQemuPids } from '../../src/agent/index.js';
import { MigrationLab } from './migration-lab.js';
import { P, consoleOf, demoSpec, heartbeats, statusOf, waitSeqAbove } from '../../src/testing/agent.js';
import { waitFor } from '../../src/testing/wait-for.js';

const lab = new MigrationLab('ferry-dr');
const { dirs } = lab;
let a: ApiClient;
let b: ApiClient;
let targetDataUrl: string;
const spec: VmSpec = demoSpec('p1', { memoryMiB: 256, workload: 'dirty:4:32', disks: [{ sizeMiB: 64 }] });

before(async () => {
  ({ a, b, targetDataUrl } = await lab.startPair());
  await a.post(`${P}/vms`, spec);
  await a.post(`${P}/vms/p1/start`);
  await waitSeqAbove(a, 'p1', 3);
});

after(async () => {
  await lab.close();
});

let seq = 0;
async function checkpoint(vm = 'p1'): Promise<CheckpointProgress> {
  const jobId = randomUUID();
  seq++;
  const status = await statusOf(a, vm);
  const r = await b.post<CheckpointProgress>(`${P}/dr/receive`, { jobId, vm, seq, sourceHost: 'h1', spec: status.spec, keep: 2 });
  assert.equal(r.state, 'waiting');
  await a.post<CheckpointProgress>(`${P}/dr/send`, { jobId, vm, seq, targetHost: 'h2', targetDataUrl });
  const src = await waitFor(`checkpoint ${seq}`, async () => {
    const p = await a.get<CheckpointProgress>(`${P}/dr/jobs/${jobId}`);
    return p.state === 'committed' || p.state === 'failed' ? p : undefined;
  }, { timeoutMs: 180_000, everyMs: 200 });
  assert.equal(src.state, 'committed', JSON.stringify(src.error));
  const dst = await b.get<CheckpointProgress>(`${P}/dr/jobs/${jobId}`);
  assert.equal(dst.state, 'committed', JSON.stringify(dst.error));
  console.log(`checkpoint ${seq}: pause ${src.pauseMs} ms, guest seq ${src.guestSeq}, files ${src.bytesTotal} B, wire ${src.wireBytes} B, new at DR ${dst.newBytes} B`);
  return { ...src, newBytes: dst.newBytes };
}

test('checkpoints: the VM keeps running, the second one carries only what changed', async () => {
  const first = await checkpoint();
  assert.ok(first.pauseMs !== undefined && first.guestSeq !== undefined);
  const before = (await statusOf(a, 'p1')).state;
  assert.equal(before, 'running');
  await waitSeqAbove(a, 'p1', first.guestSeq! + 3);
  const second = await checkpoint();
  // The guest rewrites 4 MiB/s of a 32 MiB set: the second checkpoint costs about that set (plus
  // what the kernel touched), not the 256 MiB of memory and 64 MiB of disk it stands for.
  const setBytes = 32 * 1024 * 1024;
  assert.ok(second.newBytes < setBytes + 16 * 1024 * 1024, `second checkpoint stored ${second.newBytes} new bytes (dirty set ${setBytes})`);
  assert.ok(second.wireBytes < second.bytesTotal / 4, `second checkpoint sent ${second.wireBytes} of ${second.bytesTotal} bytes`);
  // Incremental: the wire carries the 4 KiB pages that changed (plus framing), not whole chunks.
  assert.ok(second.changedBytes !== undefined && second.changedBytes > 0, 'the second checkpoint is incremental');
  assert.ok(second.wireBytes < second.changedBytes * 1.3 + 1024 * 1024, `sent ${second.wireBytes} bytes for ${second.changedBytes} bytes of changed pages`);
  // The next capture may start the moment a job says committed (a planned failover does that).
  await checkpoint();
  const stored = await b.get<StoredCheckpoint[]>(`${P}/dr/store/p1`);
  assert.deepEqual(stored.map((c) => c.seq), [3, 2], 'retention keeps the newest two');
  assert.ok(heartbeats(await consoleOf(a, 'p1')).every((h) => h.bad === 0));
});

test('a test copy runs isolated under another name, from the checkpoint, memory intact', async () => {
  const stored = await b.get<StoredCheckpoint[]>(`${P}/dr/store/p1`);
  const newest = stored[0]!;
  const copy = await b.post<VmStatus>(`${P}/dr/restore`, { vm: 'p1', asName: 'p1-drtest', isolated: true });
  assert.equal(copy.state, 'running');
  assert.notEqual(copy.uuid, spec.uuid);
  await waitSeqAbove(b, 'p1-drtest', newest.guestSeq! + 2);
  const hb = heartbeats(await consoleOf(b, 'p1-drtest'));
  assert.ok(hb.length > 0 && hb[0]!.seq >= newest.guestSeq!, `copy restarted from ${hb[0]?.seq}, checkpoint had ${newest.guestSeq}`);
  assert.ok(hb.every((h) => h.bad === 0), JSON.stringify(hb.slice(-3)));
  assert.equal((await statusOf(a, 'p1')).state, 'running', 'production untouched');
  await b.post(`${P}/vms/p1-drtest/stop`, { force: true });
  await b.delete(`${P}/vms/p1-drtest`);
});

test('a VM that has been checkpointed still migrates live (the capture leaves no capability behind that pre-copy refuses)', async () => {
  const m = demoSpec('m1', { memoryMiB: 128, workload: 'dirty:4:32' });
  await a.post(`${P}/vms`, m);
  await a.post(`${P}/vms/m1/start`);
  await waitSeqAbove(a, 'm1', 2);
  await checkpoint('m1');
  const id = randomUUID();
  await b.post<MigrationProgress>(`${P}/migrations/incoming`, { migrationId: id, spec: m, sourceHost: 'h1', strategy: 'precopy', copyDisks: false });
  await a.post<MigrationProgress>(`${P}/migrations/outgoing`, { migrationId: id, vm: 'm1', targetHost: 'h2', targetDataUrl, strategy: 'precopy', maxDowntimeMs: 300, transport: 'passthrough', copyDisks: false });
  const t = await waitFor('the migration to complete', async () => {
    const p = await b.get<MigrationProgress>(`${P}/migrations/${id}`);
    return p.state === 'active' || p.state === 'reserved' ? undefined : p;
  }, { timeoutMs: 180_000, everyMs: 200 });
  assert.equal(t.state, 'completed', JSON.stringify(t.error ?? (await a.get<MigrationProgress>(`${P}/migrations/${id}`)).error));
  await b.post(`${P}/migrations/${id}/commit`);
  await a.post(`${P}/migrations/${id}/commit`);
  const at = await waitSeqAbove(b, 'm1', 2);
  assert.ok(heartbeats(await consoleOf(b, 'm1')).every((h) => h.bad === 0), `memory intact after the move (seq ${at})`);
  await b.post(`${P}/vms/m1/stop`, { force: true });
  await b.delete(`${P}/vms/m1`);
});

test('site loss: the VM resumes at the DR host from its last checkpoint', async () => {
  const last = await checkpoint();
  for (const pid of findQemuPids(dirs[0]!)) process.kill(pid, 'SIGKILL');
  const vm = await b.post<VmStatus>(`${P}/dr/restore`, { vm: 'p1' });
  assert.equal(vm.uuid, spec.uuid);
  await waitSeqAbove(b, 'p1', last.guestSeq! + 2);
  const hb = heartbeats(await consoleOf(b, 'p1'));
  assert.ok(hb[0]!.seq >= last.guestSeq!, `resumed from ${hb[0]!.seq}, checkpoint had ${last.guestSeq}`);
  assert.ok(hb.every((h) => h.bad === 0));
  const disk = hb.at(-1)!.fields.disk;
  assert.ok(disk !== undefined && Number(disk) > 0, `the guest's disk counter goes on at the DR host: ${JSON.stringify(hb.at(-1))}`);
});

test('a checkpoint whose session never comes times out and commits nothing', { timeout: 120_000 }, async () => {
  const jobId = randomUUID();
  const r = await b.post<CheckpointProgress>(`${P}/dr/receive`, { jobId, vm: 'p9', seq: 1, sourceHost: 'h1', spec: demoSpec('p9'), keep: 1 });
  assert.equal(r.state, 'waiting');
  const ab = await b.post<CheckpointProgress>(`${P}/dr/jobs/${jobId}/abort`);
  assert.equal(ab.state, 'aborted');
  assert.deepEqual(await b.get<StoredCheckpoint[]>(`${P}/dr/store/p9`), []);
});
