// Receiver of an incremental checkpoint: starts from the base checkpoint's chunk ids (the DR
// host's own committed copy), and for each record rebuilds the changed chunk from the base's
// chunk (read from the store) with the record's pages written over it; the staging's put
// verifies the result against the record's SHA-256, so a page the sender did not send because
// it thought the base held it — or a base chunk gone bad on this disk — makes the checkpoint
// fail, never enter the store.
// Unchanged chunks keep the base's ids; the commit checks that every one is still held.
import type { Duplex } from 'node:stream';
import { FerryError } from '../../../contracts/index.js';
import type { CheckpointFile, CommittedCheckpoint, Staging } from '../store/index.js';
import { CHUNK_BYTES, DeltaParser, HEAD_BYTES, applyPages, baseDigest, popcount, PAGE_BYTES } from './format.js';
import { PutQueue } from '../transfer.js';

export interface DeltaBase {
  get(vm: string, seq: number): CommittedCheckpoint | undefined;
  /** Unverified (ChunkStore.peekChunk): the rebuilt chunk is verified instead. */
  peekChunk(id: Buffer): Buffer | undefined;
}

const ZERO = Buffer.alloc(CHUNK_BYTES);

/** The files of the new checkpoint as the base names them: unchanged chunks are the base's. */
function startFrom(base: CommittedCheckpoint, files: { name: string; size: number }[]): CheckpointFile[] {
  return files.map((f) => {
    const count = Math.ceil(f.size / CHUNK_BYTES);
    const bf = base.manifest.files.find((x) => x.name === f.name && x.chunkBytes === CHUNK_BYTES);
    return { name: f.name, size: f.size, chunkBytes: CHUNK_BYTES, chunks: Array.from({ length: count }, (_v, i) => bf?.chunks[i] ?? null) };
  });
}

export async function receiveDelta(data: Duplex, vm: string, want: { seq: number; digest: string }, header: { name: string; size: number }[], staging: Staging, store: DeltaBase, onBytes: (n: number) => void): Promise<{ files: CheckpointFile[]; newBytes: number }> {
  const baseSeq = want.seq;
  const base = store.get(vm, baseSeq);
  if (!base || base.damaged) throw new FerryError('NOT_FOUND', `the base checkpoint ${vm}/${baseSeq} of this delta is not here (or damaged): a full checkpoint is needed`);
  if (baseDigest(base.manifest.files.filter((f) => f.chunkBytes === CHUNK_BYTES)) !== want.digest) throw new FerryError('CONFLICT', `the base checkpoint ${vm}/${baseSeq} here is not the one the sender holds: a full checkpoint is needed`);
  const files = startFrom(base, header);
  const parser = new DeltaParser(files.map((f) => f.chunks.length));
  const puts = new PutQueue();
  let newBytes = 0;
  for await (const piece of data as AsyncIterable<Buffer>) {
    for (const rec of parser.push(piece)) {
      const file = files[rec.file]!;
      const baseHex = file.chunks[rec.chunk];
      const chunk = Buffer.alloc(CHUNK_BYTES);
      if (baseHex) {
        const was = store.peekChunk(Buffer.from(baseHex, 'hex'));
        if (!was) throw new FerryError('NOT_FOUND', `chunk ${baseHex} of the base checkpoint ${vm}/${baseSeq} is gone`);
        was.copy(chunk);
      }
      applyPages(chunk, rec.mask, rec.pages);
      if (rec.zero) {
        if (!chunk.equals(ZERO)) throw new FerryError('INVALID_REQUEST', `delta: chunk ${rec.chunk} of ${file.name} is not all zeros as announced`);
        file.chunks[rec.chunk] = null;
      } else {
        file.chunks[rec.chunk] = rec.id.toString('hex');
        await puts.add(async () => {
          if (await staging.putChunk(rec.id, chunk)) newBytes += CHUNK_BYTES;
        });
      }
      onBytes(HEAD_BYTES + popcount(rec.mask) * PAGE_BYTES);
    }
  }
  parser.finish();
  await puts.drain();
  return { files, newBytes };
}
