import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { CHUNK, chunk, code, fileOf, manifestOf, putAll, scratchStore, tempDir } from '../../../testing/chunk-store.js';

describe('chunk store: materialize', () => {
  it('reproduces each file byte for byte, zero chunks as unallocated holes', async (t) => {
    const { store } = scratchStore(t);
    const out = tempDir('out');
    t.after(() => out.remove());
    const [a, b, c] = [chunk(), chunk(), chunk(1234)];
    const zeros = Array<null>(32).fill(null); // 2 MiB of zeros in the middle
    const disk = fileOf('disk0', [a, ...zeros, b, null]);
    const mem = fileOf('memory', [b, a, c]); // a short last chunk
    const tail = Buffer.concat([chunk(100), Buffer.alloc(CHUNK - 100)]);
    const padded = fileOf('padded', [a, tail], CHUNK + 100); // the last chunk padded to a whole one
    const s = store.begin('vm1', 1);
    await putAll(s, [a, b, c, tail]);
    s.commit(manifestOf('vm1', 1, [disk.file, mem.file, padded.file]));

    for (const { file, bytes } of [disk, mem]) {
      const dest = join(out.path, file.name);
      writeFileSync(dest, 'old content, longer than nothing'); // replaced, not merged
      await store.materialize('vm1', 1, file.name, dest);
      assert.ok(readFileSync(dest).equals(bytes), `${file.name} differs`);
    }
    const diskStat = statSync(join(out.path, 'disk0'));
    assert.equal(diskStat.size, 35 * CHUNK);
    assert.ok(diskStat.blocks * 512 <= 3 * CHUNK, `zero chunks were allocated: ${diskStat.blocks * 512} bytes on disk`);
    await store.materialize('vm1', 1, 'padded', join(out.path, 'padded'));
    assert.ok(readFileSync(join(out.path, 'padded')).equals(padded.bytes));

    await assert.rejects(store.materialize('vm1', 2, 'disk0', join(out.path, 'x')), code('STORE_NOT_FOUND'));
    await assert.rejects(store.materialize('vm1', 1, 'disk9', join(out.path, 'x')), code('STORE_NOT_FOUND'));
  });

  it('fails on a chunk file that no longer matches its id, and leaves no half-made file', async (t) => {
    const { store, dir } = scratchStore(t);
    const out = tempDir('out');
    t.after(() => out.remove());
    const parts = [chunk(), chunk()];
    const { file } = fileOf('disk0', parts);
    const s = store.begin('vm1', 1);
    await putAll(s, parts);
    s.commit(manifestOf('vm1', 1, [file]));
    const victim = join(dir, 'chunks', file.chunks[1]!.slice(0, 2), file.chunks[1]!);
    const bytes = readFileSync(victim);
    bytes[7]! ^= 0x80;
    writeFileSync(victim, bytes);
    const dest = join(out.path, 'disk0');
    await assert.rejects(store.materialize('vm1', 1, 'disk0', dest), code('STORE_CHUNK_CORRUPT'));
    assert.equal(existsSync(dest), false);
    assert.throws(() => store.getChunk(Buffer.from(file.chunks[1]!, 'hex')), code('STORE_CHUNK_CORRUPT'));
  });
});
