// An agent SIGKILLed inside a DR checkpoint's pause, real QEMU, zero-loss mode: the guest stays
// paused while no agent runs (nothing else would end the pause), the restarted agent resumes it
// (the pause was recorded as the checkpoint's), the half-taken checkpoint never commits at the
// DR host, whose last committed checkpoint still restores, and replication goes on. The held
// output (filter-buffers in QEMU) is found again: the guest's answers are still held after the
// restart and come out only once a later checkpoint has committed; leaving zero-loss mode
// releases them. The agent runs as a child process (FERRY_FAULT_HOOKS=1 holds it in the pause).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pausePaths } from '../../src/agent/dr/pause-record.js';
import { ApiClient, type CheckpointProgress, type StoredCheckpoint, type VmStatus } from '../../src/contracts/index.js';
import { spawnAgent, type AgentProcess } from '../../src/testing/agent-process.js';
import { P, consoleOf, demoSpec, heartbeats, httpStatus, lastSeq, pidAlive, sleep, statusOf, waitSeqAbove } from '../../src/testing/agent.js';
import { waitFor } from '../../src/testing/wait-for.js';
import { MigrationLab, type Identity } from './migration-lab.js';
import { CheckpointDriver, startHttpGuest } from './dr-lab.js';

const lab = new MigrationLab('ferry-drr');
const dirA = mkdtempSync(join(tmpdir(), 'ferry-drr-h1-'));
lab.dirs.push(dirA);
const vmDir = join(dirA, 'vms', 'z1');
let identity: Identity;
let agentA: AgentProcess | undefined;
let a: ApiClient;
let b: ApiClient;
let targetDataUrl: string;
let url: string;
let cps: CheckpointDriver;
const spec = demoSpec('z1', { memoryMiB: 128, workload: 'http', disks: [{ sizeMiB: 16 }], nics: [{ network: 'user', forwardPorts: [80] }] });

async function startA(): Promise<void> {
  agentA = await spawnAgent({ name: 'h1', site: 'main', dataDir: dirA, accel: 'tcg', tls: identity }, { ...process.env, FERRY_FAULT_HOOKS: '1' });
  a = await lab.pki.agentClient(agentA.url, 'h1');
}

before(async () => {
  identity = await lab.identity('h1');
  b = await lab.startAgent('h2');
  targetDataUrl = (await b.get<{ dataUrl: string }>(`${P}/host`)).dataUrl;
  await startA();
  url = await startHttpGuest(a, spec);
  cps = new CheckpointDriver(() => a, b, { spec, targetDataUrl, keep: 3 });
});

after(async () => {
  await agentA?.kill();
  await lab.close();
});

const checkpoint = (holdOutput: boolean): Promise<void> => cps.run(holdOutput);

const consoleSeq = (): number => lastSeq(readFileSync(join(vmDir, 'console.log'), 'utf8'));

test('SIGKILL inside a checkpoint pause: the guest resumes, held output stays held until a commit, the DR copy stays good', { timeout: 15 * 60_000 }, async () => {
  await checkpoint(true);
  const committed = cps.seq;
  const { pid } = await statusOf(a, 'z1');

  // The next checkpoint stops in its pause; the agent dies there.
  const hook = pausePaths(vmDir);
  writeFileSync(hook.faultHold, '');
  const stuckJob = await cps.start(true);
  await waitFor('the capture inside its pause', () => (existsSync(hook.faultReached) ? true : undefined), { timeoutMs: 120_000, everyMs: 50 });
  assert.ok(existsSync(hook.record), 'the pause is recorded on disk before the guest is stopped');
  await agentA!.kill();
  rmSync(hook.faultHold);
  const seqAtKill = consoleSeq();
  await sleep(3000);
  assert.ok(pidAlive(pid!), 'QEMU outlived its agent');
  assert.equal(consoleSeq(), seqAtKill, 'with no agent, the guest stays paused');

  // The DR host never got the half-taken checkpoint; the controller would abort its wait.
  await b.post(`${P}/dr/jobs/${stuckJob}/abort`);
  assert.notEqual((await b.get<CheckpointProgress>(`${P}/dr/jobs/${stuckJob}`)).state, 'committed');
  assert.deepEqual((await b.get<StoredCheckpoint[]>(`${P}/dr/store/z1`)).map((c) => c.seq), [committed]);

  await startA();
  const st = await waitFor('z1 running again', async () => {
    const s = await statusOf(a, 'z1');
    return s.state === 'running' ? s : undefined;
  }, { timeoutMs: 120_000, everyMs: 200 });
  assert.equal(st.pid, pid, 'the same QEMU');
  await waitSeqAbove(a, 'z1', seqAtKill + 1);
  const hb = heartbeats(await consoleOf(a, 'z1'));
  assert.ok(hb.every((h, i) => i === 0 || h.seq > hb[i - 1]!.seq), 'seq never restarted');
  assert.ok(hb.every((h) => h.bad === 0), 'memory intact');
  await waitFor('the pause record and work dir gone', () => (!existsSync(hook.record) && !readdirSync(vmDir).some((n) => n.startsWith('checkpoint-')) ? true : undefined), { timeoutMs: 60_000, everyMs: 200 });

  // The held output was found again, not released: an answer waits for a later commit.
  let answered: number | undefined;
  const pending = httpStatus(url).then((s) => (answered = s));
  await sleep(3000);
  assert.equal(answered, undefined, 'no answer may leave the guest before the next checkpoint commits');
  let commits = 0;
  while (answered === undefined && commits < 12) {
    await checkpoint(true); // also proves the overlays were merged back: a new capture adds its own
    commits++;
    await sleep(500);
  }
  assert.equal(answered, 200, `answered after ${commits} commit(s)`);
  await pending;
  console.log(`after the restart the held answer left the guest after ${commits} checkpoint commit(s)`);

  // Leaving zero-loss mode releases everything, the adopted filters included.
  let second: number | undefined;
  const p2 = httpStatus(url).then((s) => (second = s));
  await checkpoint(false);
  await waitFor('the held answer released', () => (second !== undefined ? true : undefined), { timeoutMs: 30_000, everyMs: 100 });
  await p2;
  assert.equal(await httpStatus(url, 10_000), 200);

  // The DR host's newest checkpoint restores: the guest goes on from it, memory intact.
  const stored = await b.get<StoredCheckpoint[]>(`${P}/dr/store/z1`);
  assert.equal(stored[0]?.seq, cps.seq);
  const copy = await b.post<VmStatus>(`${P}/dr/restore`, { vm: 'z1', asName: 'z1-check', isolated: true });
  assert.equal(copy.state, 'running');
  await waitSeqAbove(b, 'z1-check', stored[0]!.guestSeq! + 1);
  const restored = heartbeats(await consoleOf(b, 'z1-check'));
  assert.ok(restored[0]!.seq >= stored[0]!.guestSeq! && restored.every((h) => h.bad === 0));
  await b.post(`${P}/vms/z1-check/stop`, { force: true });
});
