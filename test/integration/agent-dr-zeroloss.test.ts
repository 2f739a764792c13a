// Zero-loss mode (Remus) with real QEMU: with holdOutput, the guest's answers to a client wait
// until the checkpoint taken after they were produced has committed at the DR host, so a client
// never sees state that a failover could lose. Checked by order, not by timing: the answer is
// still missing just before the next checkpoint starts, and arrives once it has committed.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ApiClient } from '../../src/contracts/index.js';
import { MigrationLab } from './migration-lab.js';
import { demoSpec, httpStatus, sleep } from '../../src/testing/agent.js';
import { CheckpointDriver, startHttpGuest } from './dr-lab.js';
import { waitFor } from '../../src/testing/wait-for.js';

const lab = new MigrationLab('ferry-zl');
let a: ApiClient;
let b: ApiClient;
let targetDataUrl: string;
let url: string;
let cps: CheckpointDriver;
const spec = demoSpec('z1', { memoryMiB: 128, workload: 'http', nics: [{ network: 'user', forwardPorts: [80] }] });

const get = (): Promise<number | undefined> => httpStatus(url);

before(async () => {
  ({ a, b, targetDataUrl } = await lab.startPair());
  url = await startHttpGuest(a, spec);
  cps = new CheckpointDriver(() => a, b, { spec, targetDataUrl, keep: 2 });
});

after(async () => {
  await lab.close();
});

const checkpoint = (holdOutput: boolean): Promise<void> => cps.run(holdOutput);

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
