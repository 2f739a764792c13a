import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseCodec, entropyBitsPerByte, INCOMPRESSIBLE_BITS } from './codec-policy.js';
import { compress, decompress, isZero } from './codecs.js';
import { TokenBucket } from './rate-limit.js';
import { randomBytes, rng } from '../testing/seeded-random.js';

const speeds = { deflate: 200e6, brotli: 150e6 };
const text = Buffer.from('the quick brown fox jumps over the lazy dog '.repeat(1500));

test('entropy: zero is 0, random is near 8, text in between', () => {
  assert.equal(entropyBitsPerByte(Buffer.alloc(65536)), 0);
  assert.ok(entropyBitsPerByte(randomBytes(rng(1), 65536)) > INCOMPRESSIBLE_BITS);
  const t = entropyBitsPerByte(text);
  assert.ok(t > 3 && t < 5, String(t));
});

test('zero chunks are never sent as bytes', () => {
  assert.equal(chooseCodec({ zero: true, entropyBits: 0, linkBytesPerSec: 1e3, codecSpeeds: speeds }), 'zero');
});

test('random data goes raw whatever the link', () => {
  assert.equal(chooseCodec({ zero: false, entropyBits: 7.9, linkBytesPerSec: 1e5, codecSpeeds: speeds }), 'raw');
});

test('fast or unknown link: raw; slow link: compressed', () => {
  const bits = entropyBitsPerByte(text);
  assert.equal(chooseCodec({ zero: false, entropyBits: bits, linkBytesPerSec: Infinity, codecSpeeds: speeds }), 'raw');
  assert.equal(chooseCodec({ zero: false, entropyBits: bits, linkBytesPerSec: 10e9, codecSpeeds: speeds }), 'raw');
  assert.notEqual(chooseCodec({ zero: false, entropyBits: bits, linkBytesPerSec: 10e6, codecSpeeds: speeds }), 'raw');
});

test('codecs round-trip and decoding is bounded', () => {
  for (const c of ['raw', 'deflate', 'brotli'] as const) {
    const body = compress(c, text);
    assert.deepEqual(decompress(c, body, text.length), text);
    if (c !== 'raw') assert.throws(() => decompress(c, body, 100), { code: 'WIRE_CHUNK_CORRUPT' });
  }
  assert.ok(isZero(Buffer.alloc(4099)) && !isZero(Buffer.from([0, 0, 1])));
  const off = Buffer.alloc(20).subarray(3);
  off[16] = 1;
  assert.ok(!isZero(off));
});

test('token bucket: never more than burst + rate × time', () => {
  let now = 0;
  const b = new TokenBucket(1000, { burstBytes: 100, now: () => now });
  let sent = 0;
  for (let step = 0; step < 10_000; step++) {
    now += 1;
    if (b.delayMs() === 0) {
      b.consume(50);
      sent += 50;
    }
  }
  assert.ok(sent <= 100 + 1000 * 10 + 50, String(sent));
  assert.ok(sent >= 9000, String(sent));
});
