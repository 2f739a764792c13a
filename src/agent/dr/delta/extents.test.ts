import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openSync, closeSync, writeSync, ftruncateSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../../../testing/chunk-store.js';
import { CHUNK_BYTES } from './format.js';
import { chunkSpans, dataRanges, parseFilefrag } from './extents.js';

test('filefrag -e output becomes byte ranges in the block size it names', () => {
  const text = [
    'Filesystem type is: ef53',
    'File size of m is 67108864 (16384 blocks of 4096 bytes)',
    ' ext:     logical_offset:        physical_offset: length:   expected: flags:',
    '   0:        0..       0:      34816..     34816:      1:',
    '   1:     1600..    1647:          0..         0:      0:             last,unknown_loc,delalloc',
    'm: 2 extents found',
  ].join('\n');
  assert.deepEqual(parseFilefrag(text), [[0, 4096], [1600 * 4096, 1648 * 4096]]);
  assert.equal(parseFilefrag('m: FIBMAP/FIEMAP unsupported'), undefined);
});

test('chunk spans: ranges become merged chunk index spans, clipped to the file', () => {
  const C = CHUNK_BYTES;
  assert.deepEqual(chunkSpans([[5 * C + 1, 5 * C + 2], [0, 10], [C, 3 * C], [3 * C, 3 * C + 1], [100 * C, 200 * C]], 8), [[0, 4], [5, 6]]);
  assert.deepEqual(chunkSpans([], 8), []);
});

test('a sparse file on this filesystem yields its data ranges, or the whole file where the filesystem cannot tell', (t) => {
  const dir = tempDir('extents');
  t.after(() => dir.remove());
  const path = join(dir.path, 'sparse');
  const fd = openSync(path, 'w');
  ftruncateSync(fd, 64 * CHUNK_BYTES);
  writeSync(fd, Buffer.alloc(4096, 7), 0, 4096, 10 * CHUNK_BYTES);
  closeSync(fd);
  const r = dataRanges(path, 64 * CHUNK_BYTES);
  // Either the filesystem reports the one written block, or (no FIEMAP) the whole file counts.
  assert.ok(r.some(([a, b]) => a <= 10 * CHUNK_BYTES && b >= 10 * CHUNK_BYTES + 4096), JSON.stringify(r));
  assert.deepEqual(dataRanges(join(dir.path, 'missing'), 123), [[0, 123]]);
});
