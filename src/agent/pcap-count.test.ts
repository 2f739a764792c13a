import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PcapCounter, PcapFormatError } from './pcap-count.js';

function pcap(frames: { orig: number; incl: number }[], little = true): Buffer {
  const u32 = (v: number): Buffer => {
    const b = Buffer.alloc(4);
    if (little) b.writeUInt32LE(v);
    else b.writeUInt32BE(v);
    return b;
  };
  const header = Buffer.concat([u32(0xa1b2c3d4), Buffer.from(little ? [2, 0, 4, 0] : [0, 2, 0, 4]), u32(0), u32(0), u32(1), u32(1)]);
  const records = frames.map((f, i) => Buffer.concat([u32(1000 + i), u32(i), u32(f.incl), u32(f.orig), Buffer.alloc(f.incl, 0xab)]));
  return Buffer.concat([header, ...records]);
}

const FRAMES = [{ orig: 60, incl: 1 }, { orig: 1514, incl: 1 }, { orig: 98, incl: 98 }, { orig: 42, incl: 0 }];

test('sums frame lengths (orig_len), not the bytes kept', () => {
  const c = new PcapCounter();
  c.push(pcap(FRAMES));
  assert.equal(c.packets, 4);
  assert.equal(c.bytes, 60 + 1514 + 98 + 42);
});

test('fed one byte at a time, it counts the same', () => {
  const c = new PcapCounter();
  for (const b of pcap(FRAMES)) c.push(Buffer.from([b]));
  assert.deepEqual([c.packets, c.bytes], [4, 1714]);
});

test('a partial record counts only once it is complete', () => {
  const all = pcap(FRAMES);
  const c = new PcapCounter();
  c.push(all.subarray(0, 24 + 17 + 8));
  assert.deepEqual([c.packets, c.bytes], [1, 60]);
  c.push(all.subarray(24 + 17 + 8));
  assert.deepEqual([c.packets, c.bytes], [4, 1714]);
});

test('a big-endian writer is understood', () => {
  const c = new PcapCounter();
  c.push(pcap(FRAMES, false));
  assert.deepEqual([c.packets, c.bytes], [4, 1714]);
});

test('a stream that is not pcap, or a corrupt record, is refused', () => {
  assert.throws(() => new PcapCounter().push(Buffer.alloc(24)), PcapFormatError);
  const bad = pcap([{ orig: 10, incl: 20 }]);
  assert.throws(() => new PcapCounter().push(bad), PcapFormatError);
});
