// Scrub: re-reads every chunk the index names and re-hashes it. A chunk whose bytes no longer
// match its id (or whose file is gone) is removed, so the sender will ship it again; every
// checkpoint that needs a chunk the store no longer holds is marked damaged and never restored.
// Chunk files the index does not know (a power loss between a rename and its row) are deleted.
// Reads are async and batched, so a scrub of a large store does not stall the agent; every
// decision is re-checked synchronously against the index, so puts and GC may run meanwhile.
import type { ScrubReport } from '../../../contracts/dr.js';
import { sha256, type ChunkFiles } from './chunk-files.js';
import type { StoreIndex } from './store-index.js';

const BATCH = 256;

export async function scrubStore(files: ChunkFiles, index: StoreIndex): Promise<ScrubReport> {
  const report: ScrubReport = { chunks: 0, bytes: 0, corrupt: [], damaged: [] };
  for (let cursor: Buffer = Buffer.alloc(0); ; ) {
    const batch = index.chunksAfter(cursor, BATCH);
    if (batch.length === 0) break;
    for (const { id } of batch) {
      const hex = id.toString('hex');
      const data = await files.read(hex);
      report.chunks++;
      report.bytes += data?.length ?? 0;
      if (data !== undefined && sha256(data).equals(id)) continue;
      // Look again, synchronously: GC may have removed it, or a put replaced it, meanwhile.
      if (index.chunkSize(id) === undefined) continue;
      const again = files.readSync(hex);
      if (again !== undefined && sha256(again).equals(id)) continue;
      files.remove(hex);
      index.forgetChunk(id);
      report.corrupt.push(hex);
    }
    cursor = batch[batch.length - 1]!.id;
  }
  for await (const name of files.names()) {
    if (!index.isKnown(Buffer.from(name, 'hex'))) files.remove(name);
  }
  report.damaged = index.markDangling();
  return report;
}
