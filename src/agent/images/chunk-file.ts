// An image file cut into the chunk store's fixed chunks (the DR transfer's CHUNK_BYTES, so an
// image sent later is cut at the same offsets and its chunks are found held): zero chunks are
// holes, never stored; the rest go through a staging, a bounded number of writes in flight.
import { statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { FerryError } from '../../contracts/index.js';
import type { CheckpointFile, Staging } from '../dr/store/index.js';
import { CHUNK_BYTES, keepChunks, PutQueue } from '../dr/transfer.js';
import type { ImageJob } from './job.js';
import { STORE_FILE } from './layout.js';

const READ_BYTES = 16 * CHUNK_BYTES;

/** Cuts the file into the store's chunks (zero chunks are holes) through `staging`. */
export async function chunkFile(path: string, staging: Staging, job: ImageJob): Promise<CheckpointFile> {
  const size = statSync(path).size;
  const file: CheckpointFile = { name: STORE_FILE, size, chunkBytes: CHUNK_BYTES, chunks: [] };
  const puts = new PutQueue();
  const fh = await open(path, 'r');
  try {
    for (let off = 0; off < size; ) {
      job.signal.throwIfAborted();
      // Fresh zeroed buffers: queued puts still hold the previous one; the tail is zero-padded.
      const buf = Buffer.alloc(Math.min(READ_BYTES, Math.ceil((size - off) / CHUNK_BYTES) * CHUNK_BYTES));
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - off), off);
      if (bytesRead === 0) throw new FerryError('INTERNAL', `${path} ended at ${off} of ${size} bytes`);
      off += bytesRead;
      await keepChunks(off >= size ? buf : buf.subarray(0, bytesRead), (id, c) => staging.putChunk(id, c), puts, file.chunks);
      job.addBytes(bytesRead);
    }
    await puts.drain();
  } finally {
    await fh.close();
  }
  return file;
}
