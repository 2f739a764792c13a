// The page diff (worker thread) and the receiver's rebuild, end to end through a real chunk
// store: the DR side ends with exactly the new file, the wire carries only the changed pages,
// and a base that differs between the two hosts fails the checkpoint instead of storing it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { code, scratchStore, tempDir } from '../../../testing/chunk-store.js';
import type { ChunkStore } from '../store/index.js';
import { PageDiff } from './diff.js';
import { CHUNK_BYTES, PAGE_BYTES, baseDigest, endRecord } from './format.js';
import { receiveDelta } from './receive-delta.js';
import { PutQueue, keepChunks } from '../transfer.js';

const PAGES = 80; // 5 chunks
const SIZE = PAGES * PAGE_BYTES - 1000; // a short last chunk, padded like a real file's tail

/** Commits `bytes` as checkpoint vm/seq with one file "memory", as a full checkpoint would. */
async function commitFull(store: ChunkStore, seq: number, bytes: Buffer): Promise<(string | null)[]> {
  const s = store.begin('vm', seq);
  const ids: (string | null)[] = [];
  const padded = Buffer.alloc(Math.ceil(bytes.length / CHUNK_BYTES) * CHUNK_BYTES);
  bytes.copy(padded);
  const q = new PutQueue();
  await keepChunks(padded, (id, c) => s.putChunk(id, c), q, ids);
  await q.drain();
  s.commit({ vm: 'vm', uuid: 'u', seq, takenAt: 't', spec: {}, meta: {}, files: [{ name: 'memory', size: bytes.length, chunkBytes: CHUNK_BYTES, chunks: ids }] });
  return ids;
}

/** Runs the diff of `now` against `was` (both as files) and feeds its records to the receiver. */
async function roundTrip(store: ChunkStore, dir: string, was: Buffer, now: Buffer, baseIds: (string | null)[]) {
  writeFileSync(join(dir, 'was'), was);
  writeFileSync(join(dir, 'now'), now);
  const pd = new PageDiff([{ name: 'memory', path: join(dir, 'now'), size: now.length, basePath: join(dir, 'was'), baseSize: was.length, baseChunks: baseIds }]);
  const wire = new PassThrough();
  const staging = store.begin('vm', 2);
  const digest = baseDigest(store.get('vm', 1)!.manifest.files);
  const received = receiveDelta(wire, 'vm', { seq: 1, digest }, [{ name: 'memory', size: now.length }], staging, store, () => undefined);
  received.catch(() => undefined);
  let bytes = 0;
  try {
    for await (const b of pd.batches()) {
      bytes += b.records.byteLength;
      wire.write(Buffer.from(b.records));
    }
  } finally {
    pd.terminate();
  }
  wire.end(endRecord());
  const r = await received;
  return { r, staging, bytes, diff: pd.result };
}

describe('incremental checkpoints: page diff and rebuild', () => {
  it('sends only the changed pages, and the DR host rebuilds exactly the new file', async (t) => {
    const { store } = scratchStore(t);
    const tmp = tempDir('delta');
    t.after(() => tmp.remove());
    const was = randomBytes(SIZE);
    const baseIds = await commitFull(store, 1, was);
    const now = Buffer.from(was);
    for (const p of [0, 5, 17, 40, PAGES - 1]) randomBytes(PAGE_BYTES).copy(now, p * PAGE_BYTES, 0, Math.min(PAGE_BYTES, SIZE - p * PAGE_BYTES));
    now.fill(0, 32 * PAGE_BYTES, 48 * PAGE_BYTES); // chunk 2 becomes all zeros
    const { r, staging, bytes, diff } = await roundTrip(store, tmp.path, was, now, baseIds);
    assert.equal(diff.changedPages, 4 + 16, 'four scattered pages, plus the zeroed chunk (page 40 is inside it)');
    assert.ok(bytes < (diff.changedPages + 1) * PAGE_BYTES, `${bytes} bytes for ${diff.changedPages} pages`);
    assert.deepEqual(r.files[0]!.chunks, diff.files[0], 'both hosts name the same chunks');
    assert.equal(r.files[0]!.chunks[2], null);
    assert.equal(r.files[0]!.chunks[3], baseIds[3], 'an unchanged chunk keeps its id');
    assert.notEqual(r.files[0]!.chunks[1], baseIds[1]);
    staging.commit({ vm: 'vm', uuid: 'u', seq: 2, takenAt: 't', spec: {}, meta: {}, files: r.files });
    const out = join(tmp.path, 'out');
    await store.materialize('vm', 2, 'memory', out);
    assert.deepEqual(readFileSync(out), now);
  });

  it('a base that differs between the hosts fails the checkpoint and stores nothing of it', async (t) => {
    const { store } = scratchStore(t);
    const tmp = tempDir('delta');
    t.after(() => tmp.remove());
    const atDr = randomBytes(SIZE);
    const baseIds = await commitFull(store, 1, atDr);
    const here = Buffer.from(atDr);
    const at = PAGE_BYTES + 10;
    here[at] = here[at]! ^ 1; // this host's base is not what the DR host holds, in page 1
    const now = Buffer.from(here);
    randomBytes(16).copy(now, 100); // a change in page 0 of the same chunk: page 1 is not sent
    await assert.rejects(roundTrip(store, tmp.path, here, now, baseIds), code('STORE_CHUNK_CORRUPT'));
    assert.equal(store.get('vm', 2), undefined);
  });

  it('refuses a delta whose base checkpoint this host does not hold', async (t) => {
    const { store } = scratchStore(t);
    const wire = new PassThrough();
    await assert.rejects(receiveDelta(wire, 'vm', { seq: 7, digest: '' }, [{ name: 'memory', size: 10 }], store.begin('vm', 8), store, () => undefined), /full checkpoint is needed/);
  });

  it('refuses a delta whose base has the same number but other content (a protection made anew, say)', async (t) => {
    const { store } = scratchStore(t);
    const ids = await commitFull(store, 1, randomBytes(SIZE));
    ids[0] = ids[1]!;
    const digest = baseDigest([{ name: 'memory', size: SIZE, chunks: ids }]);
    await assert.rejects(receiveDelta(new PassThrough(), 'vm', { seq: 1, digest }, [{ name: 'memory', size: SIZE }], store.begin('vm', 2), store, () => undefined), /not the one the sender holds/);
  });
});
