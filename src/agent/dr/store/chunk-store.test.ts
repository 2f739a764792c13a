import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CHUNK, chunk, code, commitOf, fileOf, hexOf, idOf, manifestOf, putAll, scratchStore } from '../../../testing/chunk-store.js';

const chunkPath = (dir: string, data: Buffer) => join(dir, 'chunks', hexOf(data).slice(0, 2), hexOf(data));

describe('chunk store: chunks and stagings', () => {
  it('stores a chunk once: put, has, get, and a second put of the same id writes nothing', async (t) => {
    const { store, dir } = scratchStore(t);
    const a = chunk();
    assert.equal(store.hasChunk(idOf(a)), false);
    assert.equal(store.getChunk(idOf(a)), undefined);
    const s = store.begin('vm1', 1);
    assert.equal(await s.putChunk(idOf(a), a), true);
    assert.equal(store.hasChunk(idOf(a)), true);
    assert.deepEqual(store.getChunk(idOf(a)), a);
    assert.equal(await s.putChunk(idOf(a), a), false);
    assert.equal(await store.begin('vm2', 1).putChunk(idOf(a), a), false);
    assert.deepEqual(readdirSync(join(dir, 'chunks', hexOf(a).slice(0, 2))), [hexOf(a)]);
    assert.deepEqual(store.stats(), { chunks: 1, bytes: a.length, checkpoints: 0 });
    assert.equal(s.newChunks, 1);
    assert.equal(s.newBytes, a.length);
  });

  it('refuses a chunk whose bytes do not match its id, and stores nothing', async (t) => {
    const { store, dir } = scratchStore(t);
    const a = chunk();
    const forged = Buffer.from(a);
    forged[100]! ^= 1;
    await assert.rejects(store.begin('vm1', 1).putChunk(idOf(a), forged), code('STORE_CHUNK_CORRUPT'));
    assert.equal(store.hasChunk(idOf(a)), false);
    assert.equal(existsSync(chunkPath(dir, a)), false);
  });

  it('puts the same chunk from two puts at once as one file', async (t) => {
    const { store } = scratchStore(t);
    const a = chunk();
    const s = store.begin('vm1', 1);
    const news = await Promise.all([s.putChunk(idOf(a), a), store.begin('vm2', 1).putChunk(idOf(a), a)]);
    assert.deepEqual(news.sort(), [false, true]);
    assert.equal(store.stats().chunks, 1);
  });

  it('shows a checkpoint only once committed, newest first', async (t) => {
    const { store } = scratchStore(t);
    await commitOf(store, 'vm1', 1, [chunk()]);
    const parts = [chunk(), null, chunk()];
    const { file } = fileOf('disk', parts);
    const s = store.begin('vm1', 2);
    await putAll(s, parts);
    assert.deepEqual(store.list('vm1').map((c) => c.seq), [1]);
    assert.equal(store.get('vm1', 2), undefined);
    const done = s.commit(manifestOf('vm1', 2, [file]));
    assert.equal(done.damaged, false);
    assert.deepEqual(store.list('vm1').map((c) => c.seq), [2, 1]);
    assert.deepEqual(store.get('vm1')?.manifest, manifestOf('vm1', 2, [file]));
    assert.equal(store.get('vm1')?.committedAt, done.committedAt);
    await commitOf(store, 'vm0', 5, [chunk()]);
    assert.deepEqual(store.list().map((c) => `${c.vm}/${c.seq}`), ['vm0/5', 'vm1/2', 'vm1/1']);
  });

  it('refuses a commit naming a chunk it does not hold, an existing checkpoint, or a contradicting manifest', async (t) => {
    const { store } = scratchStore(t);
    const [a, b] = [chunk(), chunk()];
    const s = store.begin('vm1', 1);
    await s.putChunk(idOf(a), a);
    const { file } = fileOf('disk', [a, b]);
    assert.throws(() => s.commit(manifestOf('vm1', 1, [file])), code('STORE_INCOMPLETE'));
    assert.equal(store.get('vm1', 1), undefined);
    assert.throws(() => s.commit(manifestOf('vm1', 2, [fileOf('disk', [a]).file])), code('STORE_BAD_MANIFEST'));
    assert.throws(() => s.commit(manifestOf('vm1', 1, [{ ...fileOf('disk', [a]).file, size: 3 * CHUNK }])), code('STORE_BAD_MANIFEST'));
    // The staging is still usable: send the missing chunk and commit.
    await s.putChunk(idOf(b), b);
    s.commit(manifestOf('vm1', 1, [file]));
    assert.throws(() => store.begin('vm1', 1), code('STORE_CONFLICT'));
    const late = store.begin('vm1', 2);
    await commitOf(store, 'vm1', 2, [a]);
    assert.throws(() => late.commit(manifestOf('vm1', 2, [fileOf('disk', [a]).file])), code('STORE_CONFLICT'));
  });

  it('keeps a staging\'s chunks from GC until it commits or aborts, then collects the unused ones', async (t) => {
    const { store, dir } = scratchStore(t);
    const [a, b, c, held] = [chunk(), chunk(), chunk(), chunk(1000)];
    await commitOf(store, 'vm1', 1, [held]);
    const kept = store.begin('vm1', 2);
    await putAll(kept, [a, b]);
    assert.equal(kept.hasChunk(idOf(held)), true); // pinned: dropping vm1/1 below must not take it
    const dropped = store.begin('vm2', 1);
    await putAll(dropped, [b, c]);
    store.drop('vm1');
    assert.equal(store.gc(), 0);
    assert.equal(store.stats().chunks, 4);
    kept.commit(manifestOf('vm1', 2, [fileOf('disk', [a, held]).file])); // b was put but is not used
    assert.equal(store.gc(), 0); // b is still pinned by the other staging
    dropped.abort();
    dropped.abort();
    assert.equal(store.gc(), b.length + c.length);
    assert.deepEqual(store.stats(), { chunks: 2, bytes: a.length + held.length, checkpoints: 1 });
    assert.equal(existsSync(chunkPath(dir, b)), false);
    assert.equal(existsSync(chunkPath(dir, c)), false);
    assert.deepEqual(store.getChunk(idOf(held)), held);
    await assert.rejects(dropped.putChunk(idOf(c), c), /aborted/);
  });
});
