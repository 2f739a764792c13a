import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes as cryptoRandom } from 'node:crypto';
import { FerryError } from '../contracts/errors.js';
import { measureLink } from './probe.js';
import { collect, codeOf, feed, pair } from '../testing/ferry-wire-session.js';
import { CHANNEL_HIGH_WATER_MARK, INITIAL_WINDOW, MiB } from './constants.js';

function mixed(): Buffer {
  const rand = cryptoRandom(2 * MiB);
  return Buffer.concat([rand, Buffer.alloc(3 * MiB), rand.subarray(0, MiB), Buffer.from('x'.repeat(12345))]);
}

test('passthrough: both directions of channel 0 arrive byte-identical, clean close', async () => {
  const { client, server } = await pair({ mode: 'passthrough' }, () => ({ mode: 'passthrough' }));
  const fwd = mixed();
  const back = cryptoRandom(300_000);
  const gotFwd = collect(server.channel(0));
  const gotBack = collect(client.channel(0));
  await Promise.all([feed(client.channel(0), fwd), feed(server.channel(0), back)]);
  assert.ok((await gotFwd).data.equals(fwd));
  assert.ok((await gotBack).data.equals(back));
  await Promise.all([client.close(), server.closed]);
  assert.equal(client.stats.payloadBytesOut, fwd.length);
  assert.equal(server.stats.payloadBytesIn, fwd.length);
  assert.ok(client.stats.wireBytesOut < fwd.length * 1.001 + 4096, 'framing overhead is small');
  await client.close(); // idempotent
  client.destroy();
});

test('chunked: random + zero + repeated data arrive identical, with zero chunks and dedup', async () => {
  const { client, server } = await pair({ mode: 'chunked' }, () => ({ mode: 'chunked' }));
  const data = mixed();
  const got = collect(server.channel(0));
  const back = collect(client.channel(0));
  await feed(client.channel(0), data);
  server.channel(0).end(Buffer.from('return path'));
  assert.ok((await got).data.equals(data));
  assert.equal((await back).data.toString(), 'return path');
  await Promise.all([client.close(), server.close()]);
  assert.ok(client.stats.zeroChunks > 0, 'zero chunks flagged');
  assert.ok(client.stats.chunksDeduped > 0, 'repeated chunks not resent');
  assert.ok(client.stats.wireBytesOut < data.length * 0.7, `wire ${client.stats.wireBytesOut} for ${data.length}`);
});

test('chunked: a chunk the receiver store already holds is never sent', async () => {
  const data = cryptoRandom(8 * 65536);
  const { chunkId } = await import('./codecs.js');
  const held = new Map<string, Buffer>();
  const first = data.subarray(0, 65536);
  held.set(chunkId(first).toString('hex'), Buffer.from(first));
  const store = { hasChunk: (id: Buffer) => held.has(id.toString('hex')), getChunk: (id: Buffer) => held.get(id.toString('hex')) };
  const { client, server } = await pair({ mode: 'chunked' }, () => ({ mode: 'chunked', store }));
  const got = collect(server.channel(0));
  await feed(client.channel(0), data);
  assert.ok((await got).data.equals(data));
  await client.close();
  assert.equal(client.stats.chunksDeduped, 1);
  assert.equal(client.stats.chunksSent, 7);
});

test('chunked on a capped link: compressible data takes fewer wire bytes, cap honoured', async () => {
  const cap = 2 * MiB;
  const { client, server } = await pair({ mode: 'chunked', bandwidthBytesPerSec: cap }, () => ({ mode: 'chunked' }));
  const digits = Buffer.from(Array.from(cryptoRandom(4 * MiB), (b) => 48 + (b % 10)));
  const got = collect(server.channel(0));
  const t0 = performance.now();
  await feed(client.channel(0), digits);
  assert.ok((await got).data.equals(digits));
  const secs = (performance.now() - t0) / 1000;
  await client.close();
  assert.ok(client.stats.compressedChunks > 0);
  assert.ok(client.stats.wireBytesOut < digits.length * 0.8, `wire ${client.stats.wireBytesOut}`);
  if (secs >= 1) assert.ok(client.stats.wireBytesOut / secs <= 1.5 * cap, `${client.stats.wireBytesOut / secs} B/s`);
});

test('passthrough bandwidth cap: bytes/elapsed stays under 1.5 × cap', async () => {
  const cap = 1 * MiB;
  const { client, server } = await pair({ mode: 'passthrough', bandwidthBytesPerSec: cap }, () => ({ mode: 'passthrough' }));
  const data = cryptoRandom(1.5 * MiB);
  const got = collect(server.channel(0));
  const t0 = performance.now();
  await feed(client.channel(0), data);
  await got;
  const secs = (performance.now() - t0) / 1000;
  await client.close();
  assert.ok(secs >= 1, `took ${secs}s`);
  assert.ok(client.stats.wireBytesOut / secs <= 1.5 * cap, `${client.stats.wireBytesOut / secs} B/s`);
});

test('refusal: decide throws a FerryError; the opener rejects with its code', async () => {
  const p = pair({ mode: 'passthrough' }, () => {
    throw new FerryError('NO_CAPACITY', 'target is full');
  });
  await assert.rejects(p, (e: unknown) => e instanceof FerryError && e.code === 'NO_CAPACITY' && /full/.test(e.message));
});

test('socket destroyed mid-stream: both sides reject closed and error their channels', async () => {
  const { client, server, serverSocket } = await pair({ mode: 'chunked' }, () => ({ mode: 'chunked' }));
  const srvCh = server.channel(0);
  const cliCh = client.channel(0);
  const got = collect(srvCh);
  const cliErr = new Promise<Error>((resolve) => cliCh.once('error', resolve));
  cliCh.write(cryptoRandom(MiB));
  setTimeout(() => serverSocket.destroy(), 50);
  assert.equal(await codeOf(server.closed), 'WIRE_CONNECTION_LOST');
  assert.equal(await codeOf(client.closed), 'WIRE_CONNECTION_LOST');
  assert.equal(((await got).error as { code?: string }).code, 'WIRE_CONNECTION_LOST');
  assert.equal(((await cliErr) as { code?: string }).code, 'WIRE_CONNECTION_LOST');
  server.destroy();
  client.destroy();
});

test('backpressure: a consumer that does not read stalls the sender with bounded buffers', async () => {
  const { client, server, clientSocket } = await pair({ mode: 'passthrough' }, () => ({ mode: 'passthrough' }));
  const ch = client.channel(0);
  const block = cryptoRandom(MiB);
  let written = 0;
  let stop = false;
  const writer = (async () => {
    while (!stop && written < 256 * MiB) {
      written += block.length;
      if (!ch.write(block)) await new Promise((r) => ch.once('drain', r));
    }
  })();
  await new Promise((r) => setTimeout(r, 600));
  const rx = server.channel(0);
  assert.ok(rx.readableLength <= CHANNEL_HIGH_WATER_MARK + INITIAL_WINDOW, `receiver holds ${rx.readableLength}`);
  assert.ok(written <= INITIAL_WINDOW + 8 * MiB, `writer got ${written} bytes in`);
  assert.ok(clientSocket.writableLength <= INITIAL_WINDOW, `socket holds ${clientSocket.writableLength}`);
  stop = true;
  const total = collect(rx);
  await writer;
  ch.end();
  assert.equal((await total).data.length, written);
  await client.close();
});

test('probe: measureLink reports a rate and an RTT', async () => {
  const { client } = await pair({ mode: 'passthrough' }, () => ({ mode: 'passthrough' }), { kind: 'probe', sessionId: 'p' });
  const m = await measureLink(client, { bytes: 8 * MiB });
  assert.ok(m.bytesPerSec > 0 && Number.isFinite(m.bytesPerSec));
  assert.ok(m.rttMs >= 0);
  await client.close();
});

test('destroy is idempotent and rejects closed with the first cause', async () => {
  const { client, server } = await pair({ mode: 'passthrough' }, () => ({ mode: 'passthrough' }));
  client.destroy(new FerryError('ABORTED', 'operator abort'));
  client.destroy(new Error('second'));
  await assert.rejects(client.closed, { code: 'ABORTED' });
  assert.equal(await codeOf(server.closed), 'ABORTED');
});
