// A migration whose stream is corrupted on the wire fails cleanly: two agents in this process
// (separate data dirs, real QEMU, the demo guest), the source pointed at a man-in-the-middle
// relay instead of the target's data endpoint.
//   1. The relay holds certificates from the cluster CA (as a compromised or buggy middlebox
//      inside the trust boundary would), terminates TLS on both sides, flips one byte in the
//      body of the first raw CHUNK frame and re-seals the frame's CRC, so only the chunk's
//      content hash can catch it: the target refuses the chunk (WIRE_CHUNK_CORRUPT).
//   2. The relay only forwards TLS records and flips one byte of ciphertext: TLS itself fails
//      (record MAC), before ferry-wire sees anything.
// Each time: the source reports the migration failed with a cause, the VM keeps running at the
// source with its memory intact (bad=0), and after the abort the controller sends to both
// sides, the target holds no VM dir and no QEMU. (The session-level property — only verified
// bytes are delivered — is src/ferry-wire's own fault test.)
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { join } from 'node:path';
import { ApiClient, type MigrationProgress, type VmSpec } from '../../src/contracts/index.js';
import { tlsOptions } from '../../src/pki/index.js';
import { findQemuPids } from '../../src/agent/index.js';
import { MigrationLab } from './migration-lab.js';
import { crc32 } from '../../src/ferry-wire/checksum.js';
import { CHUNK_ID_BYTES, CODECS, FRAME_TYPES, HEADER_BYTES, TRAILER_BYTES } from '../../src/ferry-wire/constants.js';
import { P, consoleOf, demoSpec, heartbeats, lastSeq, statusOf, waitSeqAbove } from '../../src/testing/agent.js';
import { waitFor } from '../../src/testing/wait-for.js';

const lab = new MigrationLab('ferry-corrupt');
const { dirs } = lab;
const servers: net.Server[] = [];
const sockets = new Set<net.Socket>();
let a: ApiClient;
let b: ApiClient;
let targetDataUrl: string;

function track(s: net.Socket): net.Socket {
  sockets.add(s);
  s.once('close', () => sockets.delete(s));
  s.on('error', () => undefined);
  return s;
}

async function listen(server: net.Server): Promise<string> {
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `ferry-wire://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

function targetAddress(): { host: string; port: number } {
  const m = /^ferry-wire:\/\/([^:]+):(\d+)$/.exec(targetDataUrl)!;
  return { host: m[1]!, port: Number(m[2]) };
}

/** What a relay saw and did. */
interface Tamper { chunks: number; codecs: number[]; corrupted: boolean }

/**
 * Forwards `from` → `to` frame by frame; flips one byte in the body of the first raw CHUNK and
 * re-seals its CRC (header + payload), so the frame checks out and only the content hash differs.
 */
function corruptFirstRawChunk(from: net.Socket, to: net.Socket, t: Tamper): void {
  let buf: Buffer = Buffer.alloc(0);
  from.on('data', (d: Buffer) => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    while (buf.length >= HEADER_BYTES) {
      const len = HEADER_BYTES + buf.readUInt32BE(4) + TRAILER_BYTES;
      if (buf.length < len) break;
      const frame = Buffer.from(buf.subarray(0, len));
      buf = buf.subarray(len);
      if (frame[0] === FRAME_TYPES.CHUNK) {
        t.chunks++;
        const codec = frame[HEADER_BYTES + 8]!;
        if (t.codecs.length < 16) t.codecs.push(codec);
        const body = HEADER_BYTES + 9 + CHUNK_ID_BYTES;
        const bodyLen = len - TRAILER_BYTES - body;
        if (!t.corrupted && codec === CODECS.raw && bodyLen > 0) {
          const at = body + Math.min(100, bodyLen - 1);
          frame[at] = frame[at]! ^ 0x5a;
          frame.writeUInt32BE(crc32(frame.subarray(0, len - TRAILER_BYTES)) >>> 0, len - TRAILER_BYTES);
          t.corrupted = true;
        }
      }
      to.write(frame);
    }
  });
}

/** A relay that terminates TLS as "h2" towards the source and as "h1" towards the target. */
async function chunkCorruptingRelay(t: Tamper): Promise<string> {
  const asTarget = tlsOptions(await lab.identity('h2'));
  const asSource = tlsOptions(await lab.identity('h1'));
  const server = tls.createServer(asTarget.server, (inbound) => {
    track(inbound);
    const outbound = track(tls.connect({ ...targetAddress(), ...asSource.client('h2') }));
    corruptFirstRawChunk(inbound, outbound, t);
    outbound.on('data', (d: Buffer) => inbound.write(d));
    inbound.once('close', () => outbound.destroy());
    outbound.once('close', () => inbound.destroy());
  });
  server.on('tlsClientError', () => undefined);
  return listen(server);
}

/** A TCP relay that flips one byte of TLS ciphertext once `after` bytes went source → target. */
async function ciphertextCorruptingRelay(t: { forwarded: number; corrupted: boolean }, afterBytes: number): Promise<string> {
  const server = net.createServer((inbound) => {
    track(inbound);
    const outbound = track(net.connect(targetAddress()));
    inbound.on('data', (d: Buffer) => {
      if (!t.corrupted && t.forwarded + d.length > afterBytes) {
        d = Buffer.from(d);
        const at = Math.max(0, afterBytes - t.forwarded);
        d[at] = d[at]! ^ 0x5a;
        t.corrupted = true;
      }
      t.forwarded += d.length;
      outbound.write(d);
    });
    outbound.on('data', (d: Buffer) => inbound.write(d));
    inbound.once('close', () => outbound.destroy());
    outbound.once('close', () => inbound.destroy());
  });
  return listen(server);
}

before(async () => {
  ({ a, b, targetDataUrl } = await lab.startPair());
});

after(async () => {
  for (const s of sockets) s.destroy();
  for (const s of servers) s.close();
  await lab.close();
});

async function bootVm(spec: VmSpec): Promise<void> {
  await a.post(`${P}/vms`, spec);
  await a.post(`${P}/vms/${spec.name}/start`);
  await waitSeqAbove(a, spec.name, 2);
}

/** Migrates `spec` (already running on h1) to h2 through `url`; returns the source's final report. */
async function migrateThrough(spec: VmSpec, url: string): Promise<{ id: string; done: MigrationProgress }> {
  const id = randomUUID();
  const res = await b.post<MigrationProgress>(`${P}/migrations/incoming`, { migrationId: id, spec, sourceHost: 'h1', strategy: 'precopy', copyDisks: false });
  assert.equal(res.state, 'reserved');
  assert.equal(existsSync(join(dirs[1]!, 'vms', spec.name)), true, 'the target reserved the VM');
  await a.post<MigrationProgress>(`${P}/migrations/outgoing`, {
    migrationId: id, vm: spec.name, targetHost: 'h2', targetDataUrl: url, strategy: 'precopy', maxDowntimeMs: 300, transport: 'chunked', copyDisks: false,
  });
  const done = await waitFor(`migration ${id} to end at the source`, async () => {
    const p = await a.get<MigrationProgress>(`${P}/migrations/${id}`);
    return p.state === 'active' || p.state === 'reserved' ? undefined : p;
  }, { timeoutMs: 120_000, everyMs: 200 });
  return { id, done };
}

/** What the controller does after a failure before commitment, then the checks of issue 3. */
async function abortAndCheck(name: string, id: string): Promise<void> {
  assert.equal((await a.post<MigrationProgress>(`${P}/migrations/${id}/abort`)).state, 'failed');
  assert.equal((await b.post<MigrationProgress>(`${P}/migrations/${id}/abort`)).state, 'aborted');
  assert.equal((await statusOf(a, name)).state, 'running');
  const seq = lastSeq(await consoleOf(a, name));
  await waitSeqAbove(a, name, seq + 2);
  const hb = heartbeats(await consoleOf(a, name));
  assert.ok(hb.every((h) => h.bad === 0), `guest memory intact at the source: ${JSON.stringify(hb.slice(-3))}`);
  assert.equal(existsSync(join(dirs[1]!, 'vms', name)), false, 'no VM dir left at the target');
  assert.deepEqual(findQemuPids(dirs[1]!), [], 'no QEMU left at the target');
  assert.equal(findQemuPids(dirs[0]!).length, 1, 'the source QEMU still runs');
}

const spec = demoSpec('victim', { workload: 'dirty:16:48' });

test('a chunk corrupted on the wire (CRC re-sealed): the target refuses it, the migration fails, the VM runs on at the source, the target keeps nothing', async () => {
  await bootVm(spec);
  const t: Tamper = { chunks: 0, codecs: [], corrupted: false };
  const url = await chunkCorruptingRelay(t);
  const { id, done } = await migrateThrough(spec, url);
  assert.ok(t.corrupted, `the relay corrupted a raw chunk (saw ${t.chunks} chunks, codecs ${t.codecs.join(',')})`);
  assert.equal(done.state, 'failed', JSON.stringify(done));
  assert.ok(done.error && done.error.message.length > 0);
  console.log(`corrupt chunk: source ${done.error.code}: ${done.error.message}`);
  // The target's own record says what it refused.
  const target = await waitFor('target to fail', async () => {
    const p = await b.get<MigrationProgress>(`${P}/migrations/${id}`);
    return p.state === 'failed' ? p : undefined;
  }, { timeoutMs: 30_000 });
  console.log(`corrupt chunk: target ${target.error?.code}: ${target.error?.message}`);
  assert.match(`${done.error.code} ${done.error.message} ${target.error?.message ?? ''}`, /WIRE_CHUNK_CORRUPT|does not match its id/);
  assert.notEqual(target.state, 'completed');
  await abortAndCheck(spec.name, id);
});

test('TLS ciphertext corrupted on the wire: TLS fails, the migration fails, the VM runs on at the source, the target keeps nothing', async () => {
  const t = { forwarded: 0, corrupted: false };
  const url = await ciphertextCorruptingRelay(t, 1024 * 1024);
  const { id, done } = await migrateThrough({ ...spec, uuid: (await statusOf(a, spec.name)).uuid }, url);
  assert.ok(t.corrupted, `the relay corrupted the stream after ${t.forwarded} bytes`);
  assert.equal(done.state, 'failed', JSON.stringify(done));
  assert.ok(done.error && done.error.message.length > 0);
  console.log(`corrupt TLS record: source ${done.error.code}: ${done.error.message}`);
  await abortAndCheck(spec.name, id);
});
