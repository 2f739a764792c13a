import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { FerryError } from '../../../contracts/index.js';
import { CHUNK_BYTES, DeltaParser, HEAD_BYTES, PAGE_BYTES, applyPages, encodeHead, endRecord } from './format.js';

const record = (file: number, chunk: number, mask: number, pages: number): Buffer => Buffer.concat([encodeHead(file, chunk, mask, randomBytes(32)), randomBytes(pages * PAGE_BYTES)]);

test('records fed one byte at a time come out whole, in order, and the end record ends the stream', () => {
  const stream = Buffer.concat([record(0, 1, 0b101, 2), record(0, 7, 0x8000, 1), record(1, 0, 0xffff, 16), endRecord()]);
  const p = new DeltaParser([8, 1]);
  const got = [];
  for (const b of stream) got.push(...p.push(Buffer.from([b])));
  p.finish();
  assert.deepEqual(got.map((r) => [r.file, r.chunk, r.mask, r.pages.length]), [[0, 1, 0b101, 2 * PAGE_BYTES], [0, 7, 0x8000, PAGE_BYTES], [1, 0, 0xffff, CHUNK_BYTES]]);
  assert.equal(p.ended, true);
});

test('the parser refuses what the header does not allow, from the head alone, and stays failed', () => {
  const refused = (chunksOf: number[], bytes: Buffer): FerryError => {
    const p = new DeltaParser(chunksOf);
    const err = assert.throws(() => p.push(bytes), FerryError) as unknown as FerryError;
    assert.throws(() => p.push(Buffer.alloc(0)), FerryError, 'stays failed');
    return err;
  };
  refused([4], encodeHead(0, 4, 1, null)); // chunk out of range
  refused([4], encodeHead(1, 0, 1, null)); // file out of range
  refused([4], encodeHead(0, 0, 0, null)); // empty mask
  refused([4], Buffer.concat([record(0, 2, 1, 1), encodeHead(0, 2, 1, null)])); // repeated
  refused([4], Buffer.concat([record(0, 2, 1, 1), encodeHead(0, 1, 1, null)])); // backwards
  refused([4], Buffer.concat([endRecord(), Buffer.from([0])])); // after the end
  const head = encodeHead(0, 0, 1, null);
  head.writeUInt8(0x80, 10);
  refused([4], head); // unknown flag
});

test('a stream cut inside a record or before the end record is an error', () => {
  const p = new DeltaParser([4]);
  p.push(record(0, 0, 1, 1).subarray(0, HEAD_BYTES + 10));
  assert.throws(() => p.finish(), /bytes into a record/);
  const q = new DeltaParser([4]);
  q.push(record(0, 0, 1, 1));
  assert.throws(() => q.finish(), /without its end record/);
});

test('applyPages writes the set pages in page order over the base', () => {
  const base = Buffer.alloc(CHUNK_BYTES, 1);
  const pages = Buffer.concat([Buffer.alloc(PAGE_BYTES, 2), Buffer.alloc(PAGE_BYTES, 3)]);
  const out = applyPages(base, (1 << 3) | (1 << 15), pages);
  assert.equal(out[3 * PAGE_BYTES], 2);
  assert.equal(out[15 * PAGE_BYTES + PAGE_BYTES - 1], 3);
  assert.equal(out[4 * PAGE_BYTES], 1);
});
