import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ChunkStore } from './chunk-store.js';
import { StoreError } from './errors.js';
import { CHUNK, chunk, fileOf, hexOf, idOf, manifestOf, putAll, scratchStore, tempDir } from '../../../testing/chunk-store.js';

const chunkPath = (dir: string, data: Buffer) => join(dir, 'chunks', hexOf(data).slice(0, 2), hexOf(data));

describe('chunk store: crashes and a full disk', () => {
  it('survives a crash mid-checkpoint: the last committed one intact, the orphans collected', async (t) => {
    const ctl = scratchStore(t);
    const out = tempDir('out');
    t.after(() => out.remove());
    const [a, b, c, d] = [chunk(), chunk(), chunk(), chunk()];
    const committed = fileOf('disk0', [a, null, b]);
    const s1 = ctl.store.begin('vm1', 1);
    await putAll(s1, [a, b]);
    s1.commit(manifestOf('vm1', 1, [committed.file]));
    const s2 = ctl.store.begin('vm1', 2);
    await putAll(s2, [b, c, d]);
    // What else a crash can leave: a write cut short in tmp/, and a renamed chunk whose index row
    // never got written (it counts as not held, and putting it again replaces the file).
    writeFileSync(join(ctl.dir, 'tmp', `${hexOf(c)}.cut`), c.subarray(0, 100));
    const [unindexed, garbled] = [chunk(), chunk()];
    writeFileSync(chunkPath(ctl.dir, unindexed), unindexed);
    writeFileSync(chunkPath(ctl.dir, garbled), chunk(5));

    const store = ctl.reopen(); // the process "dies": no commit, no abort
    assert.deepEqual(store.list().map((x) => x.seq), [1]);
    const dest = join(out.path, 'disk0');
    await store.materialize('vm1', 1, 'disk0', dest);
    assert.ok(readFileSync(dest).equals(committed.bytes));
    assert.deepEqual(readdirSync(join(ctl.dir, 'tmp')), []);
    // Open dropped the dead staging and collected what only it held.
    assert.equal(store.hasChunk(idOf(c)), false);
    assert.equal(existsSync(chunkPath(ctl.dir, c)), false);
    assert.equal(existsSync(chunkPath(ctl.dir, d)), false);
    assert.deepEqual(store.stats(), { chunks: 2, bytes: a.length + b.length, checkpoints: 1 });
    assert.equal(store.gc(), 0);

    const s3 = store.begin('vm1', 2);
    assert.equal(store.hasChunk(idOf(unindexed)), false);
    assert.equal(await s3.putChunk(idOf(unindexed), unindexed), true);
    assert.equal(await s3.putChunk(idOf(garbled), garbled), true);
    assert.deepEqual(store.getChunk(idOf(garbled)), garbled);
    s3.commit(manifestOf('vm1', 2, [fileOf('disk0', [unindexed, garbled]).file]));
  });

  describe('on a full disk (a 2 MiB tmpfs)', () => {
    const mnt = tempDir('tmpfs');
    const out = tempDir('out');
    let mounted = false;
    before(() => {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt.path]);
      mounted = true;
    });
    after(() => {
      if (mounted) execFileSync('umount', [mnt.path]);
      mnt.remove();
      out.remove();
    });

    const freeBytes = (path: string) => {
      const fs = statfsSync(path);
      return fs.bavail * fs.bsize;
    };
    /** Puts fresh chunks through a staging until the store refuses one; returns why. */
    async function fill(store: ChunkStore, seq: number): Promise<{ err: StoreError; last: Buffer; put: number }> {
      const s = store.begin('vm1', seq);
      for (let put = 0; put < 64; put++) {
        const last = chunk();
        try {
          await s.putChunk(idOf(last), last);
        } catch (err) {
          s.abort();
          return { err: err as StoreError, last, put };
        }
      }
      throw new Error('a 2 MiB disk never filled up');
    }

    it('refuses chunks with STORE_FULL, writes nothing half-way, and the last checkpoint stays whole', async () => {
      const dir = join(mnt.path, 'store');
      const dest = join(out.path, 'disk0');
      const committed = fileOf('disk0', [chunk(), null, chunk()]);
      const unharmed = async (store: ChunkStore) => {
        await store.materialize('vm1', 1, 'disk0', dest);
        assert.ok(readFileSync(dest).equals(committed.bytes));
        assert.deepEqual(readdirSync(join(dir, 'tmp')), []);
      };
      // The reserve: STORE_FULL comes while the index still has room for a reopen to collect.
      let store = ChunkStore.open(dir, { reserveBytes: 512 * 1024 });
      try {
        const s = store.begin('vm1', 1);
        await putAll(s, [0, 2].map((i) => committed.bytes.subarray(i * CHUNK, (i + 1) * CHUNK)));
        s.commit(manifestOf('vm1', 1, [committed.file]));
        let full = await fill(store, 2);
        assert.equal(full.err.code, 'STORE_FULL', String(full.err));
        assert.ok(full.put > 5, `only ${full.put} chunks fitted`);
        assert.ok(freeBytes(dir) >= 512 * 1024 - CHUNK, `${freeBytes(dir)} bytes free`);
        await unharmed(store);
        store.close();
        store = ChunkStore.open(dir, { reserveBytes: 512 * 1024 });
        assert.deepEqual(store.stats(), { chunks: 2, bytes: 2 * CHUNK, checkpoints: 1 });
        await unharmed(store);

        // No reserve (as if something else filled the disk): the fs or SQLite runs out of space.
        store.close();
        store = ChunkStore.open(dir, { reserveBytes: 0 });
        full = await fill(store, 2);
        assert.equal(full.err.code, 'STORE_FULL', String(full.err));
        assert.equal(store.hasChunk(idOf(full.last)), false);
        assert.equal(existsSync(chunkPath(dir, full.last)), false);
        await unharmed(store);
        store.close();
        store = ChunkStore.open(dir, { reserveBytes: 0 });
        await unharmed(store);
        assert.deepEqual(store.list().map((c) => c.seq), [1]);
      } finally {
        store.close();
      }
    });
  });
});
