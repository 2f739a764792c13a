// The `direct` transport between two agents in this process, real QEMU and the demo guest:
// QEMU to QEMU over QEMU's own TLS with the lab CA's host certificates (multifd for pre-copy),
// the agents only brokering and watching. The guest's heartbeat shows the VM kept running and
// its memory arrived intact (bad=0); failures leave it running at the source.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { ApiClient, type MigrationProgress, type VmSpec } from '../../src/contracts/index.js';
import { findQemuPids } from '../../src/agent/index.js';
import { MigrationLab } from './migration-lab.js';
import { P, consoleOf, demoSpec, heartbeats, lastSeq, statusOf, waitSeqAbove } from '../../src/testing/agent.js';
import { waitFor } from '../../src/testing/wait-for.js';

const lab = new MigrationLab('ferry-direct');
const { dirs } = lab;
let a: ApiClient;
let b: ApiClient;
let targetDataUrl: string;
let sourceDataUrl: string;

before(async () => {
  ({ a, b, targetDataUrl } = await lab.startPair());
  sourceDataUrl = (await a.get<{ dataUrl: string }>(`${P}/host`)).dataUrl;
});

after(async () => {
  await lab.close();
});

async function bootVm(c: ApiClient, spec: VmSpec): Promise<number> {
  await c.post(`${P}/vms`, spec);
  await c.post(`${P}/vms/${spec.name}/start`);
  return waitSeqAbove(c, spec.name, 2);
}

interface Leg { from: ApiClient; to: ApiClient; fromHost: string; toHost: string; toUrl: string }
const forth = (): Leg => ({ from: a, to: b, fromHost: 'h1', toHost: 'h2', toUrl: targetDataUrl });
const back = (): Leg => ({ from: b, to: a, fromHost: 'h2', toHost: 'h1', toUrl: sourceDataUrl });

/** Reserve at the target, start at the source; returns the id and the port the target QEMU listens on. */
async function start(leg: Leg, spec: VmSpec, o: { strategy: 'precopy' | 'postcopy' | 'hybrid'; transport?: 'direct' | 'passthrough'; bandwidthBytesPerSec?: number }): Promise<{ id: string; port: number | undefined }> {
  const id = randomUUID();
  const transport = o.transport ?? 'direct';
  const r = await leg.to.post<MigrationProgress>(`${P}/migrations/incoming`, { migrationId: id, spec, sourceHost: leg.fromHost, strategy: o.strategy, copyDisks: false, transport });
  assert.equal(r.state, 'reserved');
  if (transport === 'direct') assert.ok(r.listenPort !== undefined && r.listenPort > 0, JSON.stringify(r));
  await leg.from.post(`${P}/migrations/outgoing`, {
    migrationId: id, vm: spec.name, targetHost: leg.toHost, targetDataUrl: leg.toUrl, strategy: o.strategy, maxDowntimeMs: 300, transport, copyDisks: false,
    ...(r.listenPort !== undefined ? { targetDirectPort: r.listenPort } : {}),
    ...(o.bandwidthBytesPerSec ? { bandwidthBytesPerSec: o.bandwidthBytesPerSec } : {}),
  });
  return { id, port: r.listenPort };
}

async function waitEnd(c: ApiClient, id: string, percents: number[] = [], timeoutMs = 180_000): Promise<MigrationProgress> {
  return waitFor(`migration ${id} to end`, async () => {
    const p = await c.get<MigrationProgress>(`${P}/migrations/${id}`);
    percents.push(p.percent);
    return p.state === 'active' || p.state === 'reserved' ? undefined : p;
  }, { timeoutMs, everyMs: 200 });
}

async function commit(leg: Leg, id: string): Promise<void> {
  const t = await waitEnd(leg.to, id, [], 30_000);
  assert.equal(t.state, 'completed', JSON.stringify(t.error));
  assert.equal((await leg.to.post<MigrationProgress>(`${P}/migrations/${id}/commit`)).state, 'committed');
  assert.equal((await leg.from.post<MigrationProgress>(`${P}/migrations/${id}/commit`)).state, 'committed');
}

/** The guest counts on at `c` past `seq`, with its memory re-check clean. */
async function assertGuestContinues(c: ApiClient, name: string, seq: number): Promise<void> {
  await waitSeqAbove(c, name, seq + 2);
  const hb = heartbeats(await consoleOf(c, name));
  assert.ok(hb.length > 0 && hb[0]!.seq >= seq, `restarted from ${hb[0]?.seq}, was at ${seq}`);
  assert.ok(hb.every((h) => h.bad === 0), JSON.stringify(hb.slice(-5)));
}

test('dirtying VM, pre-copy over multifd TLS, and back over the relayed transport', async () => {
  const spec = demoSpec('d1', { memoryMiB: 256, workload: 'dirty:8:64' });
  await bootVm(a, spec);
  const percents: number[] = [];
  const m = await start(forth(), spec, { strategy: 'precopy' });
  const done = await waitEnd(a, m.id, percents);
  assert.equal(done.state, 'completed', JSON.stringify(done.error));
  const srcLast = lastSeq(await consoleOf(a, 'd1'));
  await commit(forth(), m.id);
  for (let i = 1; i < percents.length; i++) assert.ok(percents[i]! >= percents[i - 1]!, `percent went back: ${percents.join(',')}`);
  // QEMU's own stream crossed outside the session: it still counts as bytes on the wire.
  assert.ok(done.wireBytes >= done.streamBytes && done.streamBytes > 64 * 1024 * 1024, JSON.stringify(done));
  console.log(`direct precopy dirty 256 MiB: total ${done.totalMs} ms, downtime ${done.downtimeMs} ms, stream ${done.streamBytes} B, wire ${done.wireBytes} B, rounds ${done.rounds}`);
  await assertGuestContinues(b, 'd1', srcLast);
  assert.deepEqual(findQemuPids(dirs[0]!), []);

  // The VM's QEMU now has no TLS or multifd left set: a relayed migration back works.
  const back1 = await start(back(), { ...spec, uuid: (await statusOf(b, 'd1')).uuid }, { strategy: 'precopy', transport: 'passthrough' });
  const done2 = await waitEnd(b, back1.id);
  assert.equal(done2.state, 'completed', JSON.stringify(done2.error));
  const last2 = lastSeq(await consoleOf(b, 'd1'));
  await commit(back(), back1.id);
  await assertGuestContinues(a, 'd1', last2);
  await a.post(`${P}/vms/d1/stop`, { force: true });
  await a.delete(`${P}/vms/d1`);
});

test('post-copy over direct TLS (one stream): switches and completes, memory intact', async () => {
  const spec = demoSpec('d2', { memoryMiB: 256, workload: 'dirty:64:128' });
  await bootVm(a, spec);
  const m = await start(forth(), spec, { strategy: 'postcopy', bandwidthBytesPerSec: 32 * 1024 * 1024 });
  const done = await waitEnd(a, m.id);
  assert.equal(done.state, 'completed', JSON.stringify(done.error));
  assert.equal(done.switchedToPostcopy, true);
  await commit(forth(), m.id);
  await assertGuestContinues(b, 'd2', 0);
  await b.post(`${P}/vms/d2/stop`, { force: true });
  await b.delete(`${P}/vms/d2`);
});

test('a stranger with a cluster certificate is refused by the target QEMU, which waits on for the real source', async () => {
  const spec = demoSpec('d3');
  await bootVm(a, spec);
  const id = randomUUID();
  const r = await b.post<MigrationProgress>(`${P}/migrations/incoming`, { migrationId: id, spec, sourceHost: 'h1', strategy: 'precopy', copyDisks: false, transport: 'direct' });
  // h3 holds a valid certificate from the same CA, but the target admits only h1.
  const h3 = await lab.identity('h3');
  const sock = connect({ host: '127.0.0.1', port: r.listenPort!, key: h3.keyPem, cert: h3.certPem, ca: h3.caPem, servername: 'h2' });
  let received = 0;
  sock.on('data', (d: Buffer) => (received += d.length));
  sock.on('error', () => undefined);
  sock.write(Buffer.alloc(64 * 1024, 0x51)); // a forged stream
  await new Promise((r) => sock.once('close', r));
  assert.equal(received, 0);
  assert.equal((await b.get<MigrationProgress>(`${P}/migrations/${id}`)).state, 'reserved');
  // The source named by the controller still gets in.
  await a.post(`${P}/migrations/outgoing`, {
    migrationId: id, vm: 'd3', targetHost: 'h2', targetDataUrl, strategy: 'precopy', maxDowntimeMs: 300, transport: 'direct', copyDisks: false, targetDirectPort: r.listenPort,
  });
  const done = await waitEnd(a, id);
  assert.equal(done.state, 'completed', JSON.stringify(done.error));
  const seq = lastSeq(await consoleOf(a, 'd3'));
  await commit(forth(), id);
  await assertGuestContinues(b, 'd3', seq);
  await b.post(`${P}/vms/d3/stop`, { force: true });
  await b.delete(`${P}/vms/d3`);
  await bootVm(a, spec);
});

test('abort mid-transfer (QEMU caps the rate): the VM runs on at the source, the target keeps nothing', async () => {
  const spec = { ...demoSpec('d3'), uuid: (await statusOf(a, 'd3')).uuid };
  const m = await start(forth(), spec, { strategy: 'precopy', bandwidthBytesPerSec: 256 * 1024 });
  await waitFor('bytes flowing', async () => {
    const p = await a.get<MigrationProgress>(`${P}/migrations/${m.id}`);
    assert.equal(p.state, 'active', JSON.stringify(p.error));
    return p.streamBytes > 512 * 1024 ? true : undefined;
  }, { timeoutMs: 60_000, everyMs: 200 });
  const seq = lastSeq(await consoleOf(a, 'd3'));
  assert.equal((await a.post<MigrationProgress>(`${P}/migrations/${m.id}/abort`)).state, 'aborted');
  assert.equal((await b.post<MigrationProgress>(`${P}/migrations/${m.id}/abort`)).state, 'aborted');
  assert.equal((await statusOf(a, 'd3')).state, 'running');
  await waitSeqAbove(a, 'd3', seq + 2);
  assert.equal(existsSync(join(dirs[1]!, 'vms', 'd3')), false);
  assert.deepEqual(findQemuPids(dirs[1]!), []);
});

test('the target agent goes away mid-transfer: the control session ends, the source cancels, the VM runs on', async () => {
  const spec = { ...demoSpec('d3'), uuid: (await statusOf(a, 'd3')).uuid };
  const m = await start(forth(), spec, { strategy: 'precopy', bandwidthBytesPerSec: 256 * 1024 });
  await waitFor('bytes flowing', async () => ((await a.get<MigrationProgress>(`${P}/migrations/${m.id}`)).streamBytes > 512 * 1024 ? true : undefined), { timeoutMs: 60_000, everyMs: 200 });
  await lab.agents[1]!.close();
  const done = await waitEnd(a, m.id, [], 60_000);
  assert.equal(done.state, 'failed');
  console.log(`target lost (direct): ${done.error?.code}: ${done.error?.message}`);
  const seq = lastSeq(await consoleOf(a, 'd3'));
  await waitSeqAbove(a, 'd3', seq + 2);
  assert.equal((await statusOf(a, 'd3')).state, 'running');
});
