// A migration commits exactly once (issue 14), with real QEMU and both agents in processes of their
// own so they can be SIGKILLed and restarted on the same data dirs:
//   - the target keeps the whole VM paused until the commit, and discards it when none comes in time;
//   - the source, once its QEMU completed, resumes only when told the target's copy is gone;
//   - an agent killed at that moment leaves its part for the restarted agent, which finishes or
//     undoes it and answers for the migration id (so a lost reply is settled by asking).
// At every point at most one copy of the guest runs: the guests' consoles show who ran.
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient, FerryError, type HostInfo, type MigrationProgress, type VmSpec } from '../../src/contracts/index.js';
import { findQemuPids } from '../../src/agent/index.js';
import { RestartableAgent } from '../../src/testing/agent-process.js';
import { P, demoSpec, heartbeats, killQemus, lastSeq, sleep, statusOf, waitSeqAbove } from '../../src/testing/agent.js';
import { waitFor } from '../../src/testing/wait-for.js';
import { MigrationLab } from './migration-lab.js';

const lab = new MigrationLab('ferry-commit');
let source: RestartableAgent;
let target: RestartableAgent;
let a: ApiClient;
let b: ApiClient;

before(async () => {
  const agent = async (name: string) => {
    const dataDir = mkdtempSync(join(tmpdir(), `ferry-commit-${name}-`));
    return new RestartableAgent({ name, site: 'main', dataDir, accel: 'tcg', tls: await lab.identity(name) }, lab.pki);
  };
  source = await agent('h1');
  target = await agent('h2');
  a = await source.start();
  b = await target.start();
});

after(async () => {
  for (const ag of [source, target]) {
    if (!ag) continue;
    await ag.stop();
    killQemus(ag.opts.dataDir);
    rmSync(ag.opts.dataDir, { recursive: true, force: true });
  }
});

// Each test counts the QEMUs of its own VM only if no other test left one behind (a failed test stops nothing).
afterEach(() => {
  for (const ag of [source, target]) if (ag) killQemus(ag.opts.dataDir);
});

const consoleAt = (ag: RestartableAgent, vm: string): string => {
  const file = join(ag.opts.dataDir, 'vms', vm, 'console.log');
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
};

async function rejectsWith(p: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof FerryError, `expected ${code}, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  if (message) assert.match(err.message, message);
}

/** Boots `spec` at the source and migrates it (pre-copy) until the source's QEMU completed and the target holds the whole VM. */
async function migrateUntilCompleted(spec: VmSpec, commitTimeoutMs?: number): Promise<{ id: string; seq: number }> {
  await a.post(`${P}/vms`, spec);
  await a.post(`${P}/vms/${spec.name}/start`);
  await waitSeqAbove(a, spec.name, 2);
  const { dataUrl } = await b.get<HostInfo>(`${P}/host`);
  const id = randomUUID();
  await b.post(`${P}/migrations/incoming`, { migrationId: id, spec, sourceHost: 'h1', strategy: 'precopy', copyDisks: false, ...(commitTimeoutMs ? { commitTimeoutMs } : {}) });
  await a.post(`${P}/migrations/outgoing`, { migrationId: id, vm: spec.name, targetHost: 'h2', targetDataUrl: dataUrl, strategy: 'precopy', maxDowntimeMs: 300, transport: 'passthrough', copyDisks: false });
  const src = await waitFor('source completed', async () => {
    const p = await a.get<MigrationProgress>(`${P}/migrations/${id}`);
    return p.state === 'active' || p.state === 'reserved' ? undefined : p;
  }, { timeoutMs: 120_000, everyMs: 200 });
  assert.equal(src.state, 'completed', JSON.stringify(src.error));
  const tgt = await waitFor('target completed', async () => {
    const p = await b.get<MigrationProgress>(`${P}/migrations/${id}`);
    return p.state === 'active' || p.state === 'reserved' ? undefined : p;
  }, { timeoutMs: 30_000, everyMs: 100 });
  assert.equal(tgt.state, 'completed', JSON.stringify(tgt.error));
  return { id, seq: lastSeq(consoleAt(source, spec.name)) };
}

/** Neither copy's guest advances for a while: the source is stopped (postmigrate), the target paused until commit. */
async function assertNeitherRuns(vm: string, seq: number): Promise<void> {
  await sleep(2000);
  assert.deepEqual(heartbeats(consoleAt(target, vm)), [], 'the target never ran the guest before the commit');
  assert.ok(lastSeq(consoleAt(source, vm)) <= seq + 1, 'the source is stopped');
}

/** The guest runs at `c` again, counting on from `seq` with memory intact. */
async function assertRunsOn(c: ApiClient, ag: RestartableAgent, vm: string, seq: number): Promise<void> {
  await waitSeqAbove(c, vm, seq + 2);
  const hb = heartbeats(consoleAt(ag, vm)).filter((h) => h.seq > seq);
  assert.ok(hb.length > 0 && hb.every((h) => h.bad === 0), JSON.stringify(hb.slice(-3)));
  assert.equal((await statusOf(c, vm)).state, 'running');
}

test('the target holds the VM paused until commit; with no commit in time it discards it; the source resumes only when told', async () => {
  const spec = demoSpec('c1');
  const { id, seq } = await migrateUntilCompleted(spec, 4000);
  await assertNeitherRuns('c1', seq);
  await rejectsWith(a.post(`${P}/migrations/${id}/abort`, {}), 'INVALID_STATE', /targetGone/);
  const gone = await waitFor('the commit timer', async () => {
    const p = await b.get<MigrationProgress>(`${P}/migrations/${id}`);
    return p.state === 'aborted' ? p : undefined;
  }, { timeoutMs: 30_000, everyMs: 200 });
  assert.match(gone.error?.message ?? '', /no commit within 4000 ms/);
  await rejectsWith(b.post(`${P}/migrations/${id}/commit`), 'INVALID_STATE');
  assert.deepEqual(findQemuPids(target.opts.dataDir), [], 'the paused copy was killed');
  assert.equal(existsSync(join(target.opts.dataDir, 'vms', 'c1')), false);
  assert.equal((await a.post<MigrationProgress>(`${P}/migrations/${id}/abort`, { targetGone: true })).state, 'aborted');
  await assertRunsOn(a, source, 'c1', seq);
  await a.post(`${P}/vms/c1/stop`, { force: true });
});

test('the target agent is SIGKILLed while it holds the paused VM: the restarted agent discards it and says so', async () => {
  const spec = demoSpec('c2');
  const { id, seq } = await migrateUntilCompleted(spec);
  const [paused] = findQemuPids(target.opts.dataDir);
  assert.ok(paused !== undefined, 'the target QEMU holds the VM');
  await target.kill();
  await assertNeitherRuns('c2', seq);
  b = await target.start();
  const p = await b.get<MigrationProgress>(`${P}/migrations/${id}`);
  assert.equal(p.state, 'aborted', JSON.stringify(p));
  assert.match(p.error?.message ?? '', /restarted/);
  assert.deepEqual(findQemuPids(target.opts.dataDir), []);
  await rejectsWith(statusOf(b, 'c2'), 'NOT_FOUND');
  await a.post(`${P}/migrations/${id}/abort`, { targetGone: true });
  await assertRunsOn(a, source, 'c2', seq);
  await a.post(`${P}/vms/c2/stop`, { force: true });
});

test('the source agent is SIGKILLed once its QEMU completed: the restarted agent holds the VM until the word comes; the commit moves it', async () => {
  const spec = demoSpec('c3');
  const { id, seq } = await migrateUntilCompleted(spec);
  await source.kill();
  a = await source.start();
  const p = await a.get<MigrationProgress>(`${P}/migrations/${id}`);
  assert.equal(p.state, 'completed', JSON.stringify(p));
  assert.equal((await statusOf(a, 'c3')).state, 'paused');
  await rejectsWith(a.post(`${P}/vms/c3/resume`), 'INVALID_STATE');
  await rejectsWith(a.post(`${P}/migrations/${id}/abort`, {}), 'INVALID_STATE', /targetGone/);
  await assertNeitherRuns('c3', seq);
  assert.equal((await b.post<MigrationProgress>(`${P}/migrations/${id}/commit`)).state, 'committed');
  assert.equal((await a.post<MigrationProgress>(`${P}/migrations/${id}/commit`)).state, 'committed');
  await assertRunsOn(b, target, 'c3', seq);
  assert.deepEqual(findQemuPids(source.opts.dataDir), [], 'the source copy is gone');
  await rejectsWith(statusOf(a, 'c3'), 'NOT_FOUND');
  await b.post(`${P}/vms/c3/stop`, { force: true });
});

test('post-copy over the direct transport survives both agents SIGKILLed mid-stream: QEMU finishes it, the commit moves the VM', async () => {
  const spec = demoSpec('c4', { memoryMiB: 256, workload: 'dirty:64:128' });
  await a.post(`${P}/vms`, spec);
  await a.post(`${P}/vms/c4/start`);
  await waitSeqAbove(a, 'c4', 2);
  const { dataUrl } = await b.get<HostInfo>(`${P}/host`);
  const id = randomUUID();
  const res = await b.post<MigrationProgress>(`${P}/migrations/incoming`, { migrationId: id, spec, sourceHost: 'h1', strategy: 'postcopy', copyDisks: false, transport: 'direct' });
  await a.post(`${P}/migrations/outgoing`, {
    migrationId: id, vm: 'c4', targetHost: 'h2', targetDataUrl: dataUrl, strategy: 'postcopy', maxDowntimeMs: 300, transport: 'direct', copyDisks: false,
    targetDirectPort: res.listenPort, bandwidthBytesPerSec: 6 * 1024 * 1024,
  });
  await waitFor('the switch to post-copy', async () => {
    const p = await a.get<MigrationProgress>(`${P}/migrations/${id}`);
    assert.ok(p.state === 'active' || p.state === 'reserved', `ended before the agents were killed: ${JSON.stringify(p)}`);
    return p.switchedToPostcopy ? p : undefined;
  }, { timeoutMs: 120_000, everyMs: 200 });
  const atSwitch = lastSeq(consoleAt(source, 'c4'));
  await target.kill();
  b = await target.start();
  await source.kill();
  a = await source.start();
  const done = await waitFor('post-copy completed between the QEMUs', async () => {
    const p = await a.get<MigrationProgress>(`${P}/migrations/${id}`);
    return p.state === 'active' ? undefined : p;
  }, { timeoutMs: 180_000, everyMs: 500 });
  assert.equal(done.state, 'completed', JSON.stringify(done));
  assert.equal((await b.post<MigrationProgress>(`${P}/migrations/${id}/commit`)).state, 'committed');
  assert.equal((await a.post<MigrationProgress>(`${P}/migrations/${id}/commit`)).state, 'committed');
  assert.ok(lastSeq(consoleAt(source, 'c4')) <= atSwitch + 1, 'the source never ran again after the switch');
  await assertRunsOn(b, target, 'c4', atSwitch);
  assert.deepEqual(findQemuPids(source.opts.dataDir), []);
  await b.post(`${P}/vms/c4/stop`, { force: true });
});
