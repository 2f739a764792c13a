import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { FrameParser } from './parser.js';
import { encodeFrame } from './encoder.js';
import { WireError } from './errors.js';
import { HEADER_BYTES, MAX_FRAME_BYTES, MAX_FRAME_PAYLOAD, PROTOCOL_VERSION } from './constants.js';
import type { Frame } from './frames.js';
import { crc32, crc32Js } from './checksum.js';
import { randomBytes, rng } from '../testing/seeded-random.js';

const id = (s: string): Buffer => createHash('sha256').update(s).digest();
const SAMPLE: Frame[] = [
  { type: 'HELLO', channel: 0, version: PROTOCOL_VERSION, hello: { kind: 'migration', sessionId: 'm-1', role: 'source', capabilities: ['chunked'], mode: 'chunked', meta: { vm: 'a' } } },
  { type: 'HELLO_ACK', channel: 0, version: PROTOCOL_VERSION, ack: { mode: 'passthrough', capabilities: [] } },
  { type: 'DATA', channel: 0, data: Buffer.from('hello, world') },
  { type: 'DATA', channel: 7, data: Buffer.alloc(0) },
  { type: 'MANIFEST', channel: 0, round: 3, entries: [{ id: id('a'), length: 65536, zero: false }, { id: id('z'), length: 4096, zero: true }] },
  { type: 'WANT', channel: 0, round: 3, indices: [0, 5, 9] },
  { type: 'CHUNK', channel: 0, round: 3, index: 5, codec: 'deflate', id: id('a'), body: Buffer.from([1, 2, 3]) },
  { type: 'ACK', channel: 0, round: 3, chunks: 64, bytes: 2 ** 40 + 5 },
  { type: 'DONE', channel: 0 },
  { type: 'ERROR', channel: 0, code: 'CONFLICT', message: 'busy' },
  { type: 'PING', channel: 0, seq: 1, time: 1234.5 },
  { type: 'PONG', channel: 0, seq: 1, time: 1234.5 },
  { type: 'CLOSE', channel: 65535 },
  { type: 'WINDOW', channel: 2, increment: 1 << 20 },
];
const STREAM = Buffer.concat(SAMPLE.map(encodeFrame));

function norm(f: Frame): unknown {
  return JSON.parse(JSON.stringify(f));
}

test('every frame type round-trips', () => {
  const got = new FrameParser().push(STREAM);
  assert.deepEqual(got.map(norm), SAMPLE.map(norm));
});

test('byte by byte gives the same frames', () => {
  const p = new FrameParser();
  const got: Frame[] = [];
  for (let i = 0; i < STREAM.length; i++) got.push(...p.push(STREAM.subarray(i, i + 1)));
  assert.deepEqual(got.map(norm), SAMPLE.map(norm));
  assert.equal(p.bufferedBytes, 0);
});

test('random splits give the same frames', () => {
  const r = rng(42);
  for (let round = 0; round < 200; round++) {
    const p = new FrameParser();
    const got: Frame[] = [];
    for (let o = 0; o < STREAM.length; ) {
      const n = 1 + Math.floor(r() * 64);
      got.push(...p.push(STREAM.subarray(o, o + n)));
      o += n;
    }
    assert.deepEqual(got.map(norm), SAMPLE.map(norm));
  }
});

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof WireError, `not a WireError: ${String(err)}`);
    return err.code;
  }
  return 'none';
}

test('oversize length is refused from the header alone', () => {
  const h = Buffer.alloc(HEADER_BYTES);
  h[0] = 3;
  h.writeUInt32BE(MAX_FRAME_PAYLOAD + 1, 4);
  const p = new FrameParser();
  assert.equal(code(() => p.push(h)), 'WIRE_FRAME_TOO_LARGE');
  assert.equal(p.bufferedBytes, 0);
  assert.equal(code(() => p.push(Buffer.alloc(1))), 'WIRE_FRAME_TOO_LARGE', 'stays failed');
});

test('unknown type, flags and bad checksum are typed errors', () => {
  const f = encodeFrame({ type: 'DATA', channel: 1, data: Buffer.from('abc') });
  const t = Buffer.from(f);
  t[0] = 99;
  assert.equal(code(() => new FrameParser().push(t)), 'WIRE_PROTOCOL');
  const fl = Buffer.from(f);
  fl[1] = 1;
  assert.equal(code(() => new FrameParser().push(fl)), 'WIRE_PROTOCOL');
  const c = Buffer.from(f);
  c[HEADER_BYTES] = c[HEADER_BYTES]! ^ 0x40;
  assert.equal(code(() => new FrameParser().push(c)), 'WIRE_CHECKSUM');
});

test('bad payloads with a valid checksum are protocol errors', () => {
  const fixCrc = (b: Buffer): Buffer => {
    b.writeUInt32BE(crc32(b.subarray(0, b.length - 4)) >>> 0, b.length - 4);
    return b;
  };
  const hello = encodeFrame(SAMPLE[0]!);
  hello[HEADER_BYTES] = hello[HEADER_BYTES]! ^ 1; // magic
  assert.equal(code(() => new FrameParser().push(fixCrc(hello))), 'WIRE_PROTOCOL');
  const ping = encodeFrame({ type: 'PING', channel: 0, seq: 1, time: 1 });
  const short = Buffer.concat([ping.subarray(0, HEADER_BYTES + 11), Buffer.alloc(4)]);
  short.writeUInt32BE(11, 4);
  assert.equal(code(() => new FrameParser().push(fixCrc(short))), 'WIRE_PROTOCOL');
});

test('crc32 fallback matches the native one', () => {
  const b = randomBytes(rng(1), 10_000);
  assert.equal(crc32Js(b), crc32(b));
  assert.equal(crc32Js(b.subarray(5000), crc32Js(b.subarray(0, 5000))), crc32(b));
});

test('fuzz: random bytes and mutated streams give only typed errors and bounded buffers', () => {
  const r = rng(20240601);
  const codes = new Set<string>();
  for (let i = 0; i < 3000; i++) {
    let input: Buffer;
    if (i % 3 === 0) input = randomBytes(r, Math.floor(r() * 512));
    else {
      input = Buffer.from(STREAM);
      const flips = 1 + Math.floor(r() * 4);
      for (let k = 0; k < flips; k++) input[Math.floor(r() * input.length)] = Math.floor(r() * 256);
      if (i % 3 === 2) input = input.subarray(0, Math.floor(r() * input.length));
    }
    const p = new FrameParser();
    try {
      for (let o = 0; o < input.length; ) {
        const n = 1 + Math.floor(r() * 97);
        p.push(input.subarray(o, o + n));
        assert.ok(p.bufferedBytes <= MAX_FRAME_BYTES);
        o += n;
      }
    } catch (err) {
      assert.ok(err instanceof WireError, `crash on input ${i}: ${String(err)}`);
      codes.add(err.code);
    }
  }
  assert.ok(codes.has('WIRE_CHECKSUM') && codes.has('WIRE_PROTOCOL'));
});
