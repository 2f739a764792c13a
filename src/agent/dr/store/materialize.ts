// Turns one file of a checkpoint back into bytes on disk: each stored chunk is read, verified
// against its id and written at its offset; all-zero chunks are skipped, so they stay holes and
// a mostly empty disk image costs no space at the DR site.
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { StoreError } from './errors.js';
import { checkChunk, type ChunkFiles } from './chunk-files.js';
import { chunkFits, type CheckpointFile } from './manifest.js';

async function writeAll(fh: FileHandle, data: Buffer, position: number): Promise<void> {
  for (let done = 0; done < data.length; ) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}

/** Writes `file` to `dest` (replacing it); on any failure `dest` is removed, never left half-made. */
export async function materializeFile(files: ChunkFiles, file: CheckpointFile, dest: string, what: string, signal?: AbortSignal): Promise<void> {
  const fh = await open(dest, 'w');
  let ok = false;
  try {
    for (let i = 0; i < file.chunks.length; i++) {
      signal?.throwIfAborted();
      const hex = file.chunks[i];
      if (hex === null || hex === undefined) continue;
      const data = await files.read(hex);
      if (data === undefined) throw new StoreError('STORE_CHUNK_CORRUPT', `chunk ${hex} of ${what}: its file is missing`);
      checkChunk(Buffer.from(hex, 'hex'), data, what);
      if (!chunkFits(file, i, data.length)) throw new StoreError('STORE_CHUNK_CORRUPT', `chunk ${hex} of ${what}: ${data.length} bytes do not fit at chunk ${i}`);
      await writeAll(fh, data, i * file.chunkBytes);
    }
    await fh.truncate(file.size); // trailing zero chunks become a hole; a padded last chunk is cut
    await fh.sync();
    ok = true;
  } finally {
    await fh.close();
    if (!ok) await unlink(dest).catch(() => undefined);
  }
}
