// Zero-loss mode (Remus) with real QEMU: with holdOutput, the guest's answers to a client wait
// until the checkpoint taken after they were produced has committed at the DR host, so a client
// never sees state that a failover could lose. Checked by order, not by timing: the answer is
// still missing just before the next checkpoint starts, and arrives once it has committed.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ApiClient, type CheckpointProgress, type VmStatus } from '../../src/contracts/index.js';
import { MigrationLab } from './migration-lab.js';
import { P, demoSpec, httpStatus, sleep, statusOf, waitSeqAbove } from '../../src/testing/agent.js';
import { waitFor } from '../../src/testing/wait-for.js';

const lab = new MigrationLab('ferry-zl');
let a: ApiClient;
let b: ApiClient;
let targetDataUrl: string;
let url: string;
const spec = demoSpec('z1', { memoryMiB: 128, workload: 'http', nics: [{ network: 'user', forwardPorts: [80] }] });

const get = (): Promise<number | undefined> => httpStatus(url);

before(async () => {
  ({ a, b, targetDataUrl } = await lab.startPair());
  await a.post(`${P}/vms`, spec);
  const st = await a.post<VmStatus>(`${P}/vms/z1/start`);
  const ep = (st.endpoints.length > 0 ? st : await statusOf(a, 'z1')).endpoints.find((e) => e.guestPort === 80);
  assert.ok(ep, 'the http workload is forwarded');
  url = `http://${ep.host}:${ep.port}/`;
  await waitSeqAbove(a, 'z1', 1);
  await waitFor('the guest answers http', async () => ((await get()) === 200 ? true : undefined), { timeoutMs: 90_000, everyMs: 500 });
});

after(async () => {
  await lab.close();
});

let seq = 0;
async function checkpoint(holdOutput: boolean): Promise<void> {
  const jobId = randomUUID();
  seq++;
  await b.post(`${P}/dr/receive`, { jobId, vm: 'z1', seq, sourceHost: 'h1', spec, keep: 2 });
  await a.post(`${P}/dr/send`, { jobId, vm: 'z1', seq, targetHost: 'h2', targetDataUrl, holdOutput });
  const p = await waitFor(`checkpoint ${seq}`, async () => {
    const j = await a.get<CheckpointProgress>(`${P}/dr/jobs/${jobId}`);
    return j.state === 'committed' || j.state === 'failed' ? j : undefined;
  }, { timeoutMs: 180_000, everyMs: 100 });
  assert.equal(p.state, 'committed', JSON.stringify(p.error));
}

test('answers wait for the checkpoint after them; leaving zero-loss mode releases everything', async () => {
  await checkpoint(true);
  let answered: number | undefined;
  const pending = get().then((s) => (answered = s));
  await sleep(3000);
  assert.equal(answered, undefined, 'no answer may leave the guest before the next checkpoint commits');
  // Each leg of the exchange the guest sends (its SYN-ACK, then its answer) waits for one
  // commit, so the answer comes after a further checkpoint or two; slirp's retransmission
  // backoff towards the guest can add more (CI once needed over 6 on a loaded machine).
  let commits = 0;
  while (answered === undefined && commits < 12) {
    await checkpoint(true);
    commits++;
    await sleep(500);
  }
  assert.equal(answered, 200, `answered after ${commits} more commit(s)`);
  console.log(`zero-loss: the answer left the guest after ${commits} further checkpoint commit(s)`);
  await pending;
  // Back to normal replication: whatever is held goes out, and answers flow again at once.
  let second: number | undefined;
  const p2 = get().then((s) => (second = s));
  await checkpoint(false);
  await waitFor('the held answer released', () => (second !== undefined ? true : undefined), { timeoutMs: 30_000, everyMs: 100 });
  await p2;
  assert.equal(await get(), 200);
});
