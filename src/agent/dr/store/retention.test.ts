import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chunk, commitOf, idOf, scratchStore } from '../../../testing/chunk-store.js';

describe('chunk store: retention', () => {
  it('keeps the newest N checkpoints and frees exactly the chunks only the older ones used', async (t) => {
    const { store } = scratchStore(t);
    const shared = chunk();
    const [only1, only2, only3, only4] = [chunk(1000), chunk(2000), chunk(3000), chunk(4000)];
    await commitOf(store, 'vm1', 1, [shared, only1]);
    await commitOf(store, 'vm1', 2, [shared, only2, only1]);
    await commitOf(store, 'vm1', 3, [shared, only3]);
    await commitOf(store, 'vm1', 4, [only4, only3]);
    await commitOf(store, 'vm2', 1, [only2]);

    // Dropping 1 and 2 frees only1; only2 is still used by vm2, shared by 3.
    assert.equal(store.retain('vm1', 2), only1.length);
    assert.deepEqual(store.list('vm1').map((c) => c.seq), [4, 3]);
    assert.equal(store.hasChunk(idOf(only1)), false);
    assert.equal(store.retain('vm1', 2), 0);
    assert.equal(store.retain('vm1', 1), shared.length);
    assert.deepEqual(store.list('vm1').map((c) => c.seq), [4]);

    assert.equal(store.drop('vm1'), only3.length + only4.length);
    assert.deepEqual(store.stats(), { chunks: 1, bytes: only2.length, checkpoints: 1 });
    assert.equal(store.drop('nobody'), 0);
    assert.throws(() => store.retain('vm2', -1), RangeError);
  });
});
