// Faults mid-checkpoint, real QEMU: the link breaks (the source's job is aborted mid-stream) and
// the DR host's disk fills up (its data dir is a small tmpfs, topped up with a filler file).
// Each time the checkpoint fails with a cause, nothing half-done becomes visible, and the last
// committed checkpoint still restores: the guest continues from it with its memory intact.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runAgent } from '../../src/agent/index.js';
import type { ApiClient, CheckpointProgress, HostInfo, StoredCheckpoint, VmStatus } from '../../src/contracts/index.js';
import { MigrationLab } from './migration-lab.js';
import { P, consoleOf, demoSpec, heartbeats, killQemus, waitSeqAbove } from '../../src/testing/agent.js';
import { waitFor } from '../../src/testing/wait-for.js';

const lab = new MigrationLab('ferry-drf');
let a: ApiClient;
let b: ApiClient;
let targetDataUrl: string;
const drDir = mkdtempSync(join(tmpdir(), 'ferry-drf-tmpfs-'));
const TMPFS_MIB = 400;
const spec = demoSpec('f1', { memoryMiB: 128, workload: 'dirty:8:32' });

before(async () => {
  a = await lab.startAgent('h1');
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_MIB}m`, 'tmpfs', drDir]);
  const agent = await runAgent({ name: 'h2', site: 'dr', dataDir: drDir, accel: 'tcg', tls: await lab.identity('h2') });
  lab.agents.push(agent);
  b = await lab.pki.agentClient(agent.url, 'h2');
  targetDataUrl = (await b.get<HostInfo>(`${P}/host`)).dataUrl!;
  await a.post(`${P}/vms`, spec);
  await a.post(`${P}/vms/f1/start`);
  await waitSeqAbove(a, 'f1', 2);
});

after(async () => {
  killQemus(drDir);
  await lab.close(); // stops h1's QEMUs and both agents
  try {
    execFileSync('umount', [drDir]);
  } catch {
    // not mounted
  }
  rmSync(drDir, { recursive: true, force: true });
});

let seq = 0;
async function startCheckpoint(): Promise<{ jobId: string; seq: number }> {
  const jobId = randomUUID();
  seq++;
  await b.post(`${P}/dr/receive`, { jobId, vm: 'f1', seq, sourceHost: 'h1', spec, keep: 3 });
  await a.post(`${P}/dr/send`, { jobId, vm: 'f1', seq, targetHost: 'h2', targetDataUrl });
  return { jobId, seq };
}

function waitJob(c: ApiClient, jobId: string): Promise<CheckpointProgress> {
  return waitFor(`job ${jobId}`, async () => {
    const p = await c.get<CheckpointProgress>(`${P}/dr/jobs/${jobId}`);
    return ['committed', 'failed', 'aborted'].includes(p.state) ? p : undefined;
  }, { timeoutMs: 180_000, everyMs: 200 });
}

async function assertRestores(expectSeq: number): Promise<void> {
  const stored = await b.get<StoredCheckpoint[]>(`${P}/dr/store/f1`);
  assert.equal(stored[0]?.seq, expectSeq, `newest committed checkpoint: ${JSON.stringify(stored.map((c) => c.seq))}`);
  const name = `f1-check${expectSeq}-${stored.length}`;
  const copy = await b.post<VmStatus>(`${P}/dr/restore`, { vm: 'f1', asName: name, isolated: true });
  assert.equal(copy.state, 'running');
  await waitSeqAbove(b, name, stored[0]!.guestSeq! + 1);
  const hb = heartbeats(await consoleOf(b, name));
  assert.ok(hb[0]!.seq >= stored[0]!.guestSeq!, `copy resumed at ${hb[0]!.seq}, checkpoint at ${stored[0]!.guestSeq}`);
  assert.ok(hb.every((h) => h.bad === 0));
  await b.post(`${P}/vms/${name}/stop`, { force: true });
  await b.delete(`${P}/vms/${name}`);
}

test('the link breaks mid-checkpoint: it fails, the previous checkpoint still restores', async () => {
  const first = await startCheckpoint();
  assert.equal((await waitJob(a, first.jobId)).state, 'committed');
  const second = await startCheckpoint();
  await waitFor('bytes on the way', async () => {
    const p = await a.get<CheckpointProgress>(`${P}/dr/jobs/${second.jobId}`);
    return p.state === 'sending' && p.bytesDone > 1024 * 1024 ? true : undefined;
  }, { timeoutMs: 60_000, everyMs: 20 });
  await a.post(`${P}/dr/jobs/${second.jobId}/abort`);
  const dst = await waitJob(b, second.jobId);
  assert.equal(dst.state, 'failed', JSON.stringify(dst));
  console.log(`link cut: DR side: ${dst.error?.code}: ${dst.error?.message}`);
  await assertRestores(first.seq);
});

test('the DR disk fills up mid-checkpoint: it fails with STORE_FULL, the previous checkpoint still restores', async () => {
  const good = await startCheckpoint();
  assert.equal((await waitJob(a, good.jobId)).state, 'committed');
  // Leave less room than the next checkpoint's new chunks need (the guest rewrites its 32 MiB set).
  const st = statfsSync(drDir);
  const free = st.bavail * st.bsize;
  writeFileSync(join(drDir, 'filler'), Buffer.alloc(Math.max(0, free - 8 * 1024 * 1024)));
  const full = await startCheckpoint();
  const src = await waitJob(a, full.jobId);
  const dst = await waitJob(b, full.jobId);
  assert.equal(src.state, 'failed');
  assert.equal(dst.state, 'failed');
  console.log(`disk full: source: ${src.error?.code}: ${src.error?.message}; DR: ${dst.error?.code}: ${dst.error?.message}`);
  assert.match(`${dst.error?.code} ${dst.error?.message}`, /STORE_FULL|full|space/i);
  rmSync(join(drDir, 'filler'));
  await assertRestores(good.seq);
  // And replication goes on once there is room again.
  const next = await startCheckpoint();
  assert.equal((await waitJob(a, next.jobId)).state, 'committed');
});
