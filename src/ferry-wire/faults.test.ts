// Faults injected on a real loopback connection: a chunk corrupted in flight (checksum fixed so
// only the content hash can catch it), and a peer that stops answering.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { once } from 'node:events';
import { randomBytes as cryptoRandom } from 'node:crypto';
import { crc32 } from './checksum.js';
import { CHUNK_ID_BYTES, FRAME_TYPES, HEADER_BYTES, MiB, PROTOCOL_VERSION, TRAILER_BYTES } from './constants.js';
import { encodeFrame } from './encoder.js';
import { acceptSession, openSession } from './handshake.js';
import { FrameParser } from './parser.js';
import { collect, codeOf, listen } from '../testing/ferry-wire-session.js';

/** Forwards client → server, flipping one byte in the body of the first CHUNK and re-sealing its CRC. */
function corruptingProxy(from: net.Socket, to: net.Socket): void {
  let buf = Buffer.alloc(0);
  let done = false;
  from.on('data', (b: Buffer) => {
    if (done) return void to.write(b);
    buf = Buffer.concat([buf, b]);
    while (buf.length >= HEADER_BYTES) {
      const len = HEADER_BYTES + buf.readUInt32BE(4) + TRAILER_BYTES;
      if (buf.length < len) break;
      const frame = Buffer.from(buf.subarray(0, len));
      buf = buf.subarray(len);
      if (!done && frame[0] === FRAME_TYPES.CHUNK) {
        const at = HEADER_BYTES + 9 + CHUNK_ID_BYTES + 100;
        frame[at] = frame[at]! ^ 0xff;
        frame.writeUInt32BE(crc32(frame.subarray(0, len - TRAILER_BYTES)) >>> 0, len - TRAILER_BYTES);
        done = true;
      }
      to.write(frame);
    }
    if (done && buf.length > 0) {
      to.write(buf);
      buf = Buffer.alloc(0);
    }
  });
  from.on('error', () => to.destroy());
  from.on('close', () => to.destroy());
}

test('a chunk corrupted in flight fails the session with WIRE_CHUNK_CORRUPT and no corrupt byte is delivered', async () => {
  const accepted = new Promise<Awaited<ReturnType<typeof acceptSession>>>((resolve, reject) => {
    void listen((s) => acceptSession(s, () => ({ mode: 'chunked' })).then(resolve, reject)).then((target) => {
      closeTarget = target.close;
      proxyReady(target.port);
    });
  });
  let proxyReady!: (port: number) => void;
  let closeTarget = (): void => {};
  const targetPort = await new Promise<number>((r) => (proxyReady = r));
  const proxy = await listen((inbound) => {
    const outbound = net.connect(targetPort, '127.0.0.1');
    corruptingProxy(inbound, outbound);
    outbound.on('data', (b: Buffer) => inbound.write(b));
    outbound.on('error', () => inbound.destroy());
    outbound.on('close', () => inbound.destroy());
  });
  const sock = net.connect(proxy.port, '127.0.0.1');
  await once(sock, 'connect');
  const client = await openSession(sock, { kind: 'migration', sessionId: 'corrupt' }, { mode: 'chunked' });
  const server = await accepted;
  const data = cryptoRandom(4 * MiB);
  const got = collect(server.channel(0));
  const ch = client.channel(0);
  ch.on('error', () => {});
  ch.end(data);
  const result = await got;
  assert.equal((result.error as { code?: string } | undefined)?.code, 'WIRE_CHUNK_CORRUPT');
  assert.equal(await codeOf(server.closed), 'WIRE_CHUNK_CORRUPT');
  assert.equal(await codeOf(client.closed), 'WIRE_CHUNK_CORRUPT', 'the sender learns why');
  assert.ok(result.data.equals(data.subarray(0, result.data.length)), 'only verified bytes were delivered');
  assert.ok(result.data.length < data.length);
  proxy.close();
  closeTarget();
});

// The timeout is a failure limit (a session that never notices the silence hangs), not a measurement.
test('a peer that stops answering pings fails the session with WIRE_PEER_SILENT', { timeout: 30_000 }, async () => {
  // A fake acceptor: answers the handshake, then reads and ignores everything.
  let fake: net.Socket | undefined;
  const srv = await listen((s) => {
    fake = s;
    const p = new FrameParser();
    let acked = false;
    s.on('data', (b: Buffer) => {
      if (acked) return;
      if (p.push(b).some((f) => f.type === 'HELLO')) {
        acked = true;
        s.write(encodeFrame({ type: 'HELLO_ACK', channel: 0, version: PROTOCOL_VERSION, ack: { mode: 'passthrough', capabilities: [] } }));
      }
    });
    s.on('error', () => {});
  });
  const sock = net.connect(srv.port, '127.0.0.1');
  await once(sock, 'connect');
  const client = await openSession(sock, { kind: 'migration', sessionId: 'silent' }, { mode: 'passthrough', pingIntervalMs: 40, missedPingsLimit: 3 });
  const ch = client.channel(0);
  const chErr = new Promise<Error>((resolve) => ch.once('error', resolve));
  assert.equal(await codeOf(client.closed), 'WIRE_PEER_SILENT');
  assert.equal(((await chErr) as { code?: string }).code, 'WIRE_PEER_SILENT');
  fake?.destroy();
  srv.close();
});

test('an aborted signal destroys the session with WIRE_ABORTED', async () => {
  const srv = await listen((s) => {
    void acceptSession(s, () => ({ mode: 'passthrough' })).then((sess) => sess.closed.catch(() => {}), () => {});
  });
  const sock = net.connect(srv.port, '127.0.0.1');
  await once(sock, 'connect');
  const ac = new AbortController();
  const client = await openSession(sock, { kind: 'migration', sessionId: 'abort' }, { mode: 'passthrough', signal: ac.signal });
  ac.abort();
  assert.equal(await codeOf(client.closed), 'WIRE_ABORTED');
  srv.close();
});
