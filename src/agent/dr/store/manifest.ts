// What a checkpoint is to the store: a manifest naming, for each file (memory image, disks),
// the ordered chunk ids that make it up. The manifest is kept as JSON in the index; the chunk
// ids it names are also kept as rows (refs) so GC can work in SQL.
import { StoreError } from './errors.js';

/** SHA-256 of a chunk's uncompressed content (32 bytes). */
export type ChunkId = Buffer;

export interface CheckpointFile {
  name: string;
  /** Bytes of the file. */
  size: number;
  /** Every chunk but the last is this long; the last holds the rest. */
  chunkBytes: number;
  /** One per chunk, in order: the chunk's hex id, or null for an all-zero chunk (never stored). */
  chunks: (string | null)[];
}

export interface CheckpointManifest {
  vm: string;
  uuid: string;
  seq: number;
  takenAt: string;
  /** VmSpec JSON. */
  spec: unknown;
  files: CheckpointFile[];
  /** pauseMs, guestSeq, memoryBytes, diskBytes… */
  meta: Record<string, unknown>;
}

export interface CommittedCheckpoint {
  vm: string;
  uuid: string;
  seq: number;
  takenAt: string;
  committedAt: string;
  /** A chunk it needs was found corrupt or missing (scrub): never restore from it. */
  damaged: boolean;
  manifest: CheckpointManifest;
}

const HEX_ID = /^[0-9a-f]{64}$/;

/** Whether a chunk of `len` bytes can stand at position `i` of `file`: every chunk is chunkBytes
 *  long but the last, which holds the rest of the file or is padded to a whole chunk (the
 *  padding is cut off when the file is materialized). */
export function chunkFits(file: CheckpointFile, i: number, len: number): boolean {
  const rest = file.size - i * file.chunkBytes;
  return len === Math.min(file.chunkBytes, rest) || (i === file.chunks.length - 1 && len === file.chunkBytes);
}

/** Refuses a manifest that contradicts itself or the staging it is committed through. */
export function checkManifest(m: CheckpointManifest, vm: string, seq: number): void {
  const bad = (why: string): never => {
    throw new StoreError('STORE_BAD_MANIFEST', `checkpoint ${m.vm}/${m.seq}: ${why}`);
  };
  if (m.vm !== vm || m.seq !== seq) bad(`the staging was begun for ${vm}/${seq}`);
  const names = new Set<string>();
  for (const f of m.files) {
    if (!f.name || names.has(f.name)) bad(`file name ${JSON.stringify(f.name)} is empty or repeated`);
    names.add(f.name);
    if (!Number.isSafeInteger(f.size) || f.size < 0) bad(`file ${f.name}: size ${f.size}`);
    if (!Number.isSafeInteger(f.chunkBytes) || f.chunkBytes <= 0) bad(`file ${f.name}: chunkBytes ${f.chunkBytes}`);
    const want = Math.ceil(f.size / f.chunkBytes);
    if (f.chunks.length !== want) bad(`file ${f.name}: ${f.chunks.length} chunks for ${f.size} bytes (want ${want})`);
    for (const c of f.chunks) if (c !== null && !HEX_ID.test(c)) bad(`file ${f.name}: chunk id ${JSON.stringify(c)}`);
  }
}
