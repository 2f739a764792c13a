import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chunk, code, commitOf, hexOf, idOf, scratchStore } from '../../../testing/chunk-store.js';

describe('chunk store: scrub', () => {
  it('removes corrupt and missing chunks, marks the checkpoints that need them damaged, deletes strays', async (t) => {
    const { store, dir } = scratchStore(t);
    const path = (data: Buffer) => join(dir, 'chunks', hexOf(data).slice(0, 2), hexOf(data));
    const [a, b, c, d, e] = [chunk(), chunk(), chunk(), chunk(), chunk(500)];
    await commitOf(store, 'vm1', 1, [a, b]);
    await commitOf(store, 'vm1', 2, [a, c]);
    await commitOf(store, 'vm1', 3, [b, d]);
    await commitOf(store, 'vm2', 1, [e]);
    const flipped = readFileSync(path(d));
    flipped[flipped.length - 1]! ^= 1;
    writeFileSync(path(d), flipped);
    rmSync(path(e));
    const stray = chunk(10);
    writeFileSync(path(stray), stray);

    const report = await store.scrub();
    assert.equal(report.chunks, 5);
    assert.deepEqual(report.corrupt.sort(), [hexOf(d), hexOf(e)].sort());
    assert.deepEqual(report.damaged.map((x) => `${x.vm}/${x.seq}`).sort(), ['vm1/3', 'vm2/1']);
    assert.equal(existsSync(path(d)), false);
    assert.equal(existsSync(path(stray)), false);
    assert.equal(store.hasChunk(idOf(d)), false);

    assert.deepEqual(store.list('vm1').map((x) => [x.seq, x.damaged]), [[3, true], [2, false], [1, false]]);
    assert.equal(store.get('vm1')?.seq, 2);
    assert.equal(store.get('vm2'), undefined);
    assert.equal(store.get('vm1', 3)?.damaged, true);
    await assert.rejects(store.materialize('vm1', 3, 'f0', join(dir, 'x')), code('STORE_CHUNK_CORRUPT'));

    // Nothing more to remove; the damaged checkpoints stay damaged.
    const again = await store.scrub();
    assert.deepEqual({ ...again, damaged: again.damaged.length }, { chunks: 3, bytes: 3 * a.length, corrupt: [], damaged: 2 });

    // The sender ships d again (the store no longer has it); retention never counts damaged points.
    await commitOf(store, 'vm1', 4, [d]);
    store.retain('vm1', 2);
    assert.deepEqual(store.list('vm1').map((x) => x.seq), [4, 2]);
  });
});
