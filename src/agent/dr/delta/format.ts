// The delta stream of an incremental checkpoint (docs/dr.md, "Incremental checkpoints"): on
// channel 0 of a replication session in passthrough mode, one record per 64 KiB chunk that
// differs from the base checkpoint both hosts hold, in increasing (file, chunk) order, then an
// end record. A record carries only the chunk's changed 4 KiB pages and the SHA-256 of the whole
// new chunk, so the receiver rebuilds the chunk from its own copy of the base, and the id proves
// the result (a stale or lost page fails the checkpoint instead of entering the store).
//
//   record head (44 bytes, big-endian):
//     0  u32  file index (into the header's files); END_FILE marks the end record
//     4  u32  chunk index within the file
//     8  u16  page mask: bit i set = page i of the chunk follows (i = 0..15); never 0
//    10  u8   flags: FLAG_ZERO = the new chunk is all zeros (no id; the receiver checks it)
//    11  u8   reserved, 0
//    12  32   SHA-256 of the new 64 KiB chunk (zeros with FLAG_ZERO)
//   then popcount(mask) × 4096 bytes: the set pages, in page order.
// Limits: a record's size follows from its head alone (at most 44 + 64 KiB); the parser refuses
// an index out of the header's range, a mask of 0, a record out of order, and stays failed.
import { createHash } from 'node:crypto';
import { FerryError } from '../../../contracts/index.js';

export const CHUNK_BYTES = 64 * 1024;
export const PAGE_BYTES = 4096;
export const PAGES_PER_CHUNK = CHUNK_BYTES / PAGE_BYTES;
export const HEAD_BYTES = 44;
export const END_FILE = 0xffffffff;
export const FLAG_ZERO = 1;
const ID_BYTES = 32;

export interface DeltaRecord {
  file: number;
  chunk: number;
  mask: number;
  zero: boolean;
  /** 32 bytes; all zeros with `zero`. */
  id: Buffer;
  /** popcount(mask) pages, in page order. */
  pages: Buffer;
}

export const popcount = (mask: number): number => {
  let n = 0;
  for (let m = mask; m !== 0; m &= m - 1) n++;
  return n;
};

export function encodeHead(file: number, chunk: number, mask: number, id: Buffer | null): Buffer {
  const h = Buffer.alloc(HEAD_BYTES);
  h.writeUInt32BE(file, 0);
  h.writeUInt32BE(chunk, 4);
  h.writeUInt16BE(mask, 8);
  h.writeUInt8(id === null ? FLAG_ZERO : 0, 10);
  if (id) id.copy(h, 12, 0, ID_BYTES);
  return h;
}

export const endRecord = (): Buffer => encodeHead(END_FILE, 0, 0, null);

/** Writes chunk `i`'s changed pages over `base` (a copy of the base chunk); returns it. */
export function applyPages(base: Buffer, mask: number, pages: Buffer): Buffer {
  let from = 0;
  for (let p = 0; p < PAGES_PER_CHUNK; p++) {
    if ((mask & (1 << p)) === 0) continue;
    pages.copy(base, p * PAGE_BYTES, from, from + PAGE_BYTES);
    from += PAGE_BYTES;
  }
  return base;
}

/**
 * Push parser: feed pieces as they arrive, get whole records; `ended` once the end record came.
 * `chunksOf[f]` is the number of chunks of file f (from the header).
 */
export class DeltaParser {
  #buf: Buffer = Buffer.alloc(0);
  #last = -1;
  #failed: FerryError | undefined;
  ended = false;

  constructor(private readonly chunksOf: readonly number[]) {}

  push(piece: Buffer): DeltaRecord[] {
    if (this.#failed) throw this.#failed;
    try {
      return this.#take(piece);
    } catch (err) {
      this.#failed = err instanceof FerryError ? err : new FerryError('INVALID_REQUEST', String(err));
      throw this.#failed;
    }
  }

  #take(piece: Buffer): DeltaRecord[] {
    if (this.ended && piece.length > 0) throw new FerryError('INVALID_REQUEST', 'delta: bytes after the end record');
    this.#buf = this.#buf.length === 0 ? piece : Buffer.concat([this.#buf, piece]);
    const out: DeltaRecord[] = [];
    while (this.#buf.length >= HEAD_BYTES) {
      const file = this.#buf.readUInt32BE(0);
      if (file === END_FILE) {
        if (this.#buf.length > HEAD_BYTES) throw new FerryError('INVALID_REQUEST', 'delta: bytes after the end record');
        this.ended = true;
        this.#buf = Buffer.alloc(0);
        break;
      }
      const chunk = this.#buf.readUInt32BE(4);
      const mask = this.#buf.readUInt16BE(8);
      const flags = this.#buf.readUInt8(10);
      if (file >= this.chunksOf.length || chunk >= this.chunksOf[file]!) throw new FerryError('INVALID_REQUEST', `delta: chunk ${chunk} of file ${file} is outside the checkpoint`);
      if (mask === 0 || (flags & ~FLAG_ZERO) !== 0) throw new FerryError('INVALID_REQUEST', `delta: bad record head for chunk ${chunk} of file ${file}`);
      const order = file * 2 ** 32 + chunk;
      if (order <= this.#last) throw new FerryError('INVALID_REQUEST', `delta: chunk ${chunk} of file ${file} out of order`);
      const len = HEAD_BYTES + popcount(mask) * PAGE_BYTES;
      if (this.#buf.length < len) break;
      this.#last = order;
      out.push({ file, chunk, mask, zero: (flags & FLAG_ZERO) !== 0, id: Buffer.from(this.#buf.subarray(12, HEAD_BYTES)), pages: Buffer.from(this.#buf.subarray(HEAD_BYTES, len)) });
      this.#buf = this.#buf.subarray(len);
    }
    return out;
  }

  /** The stream ended: anything but a complete end record is an error. */
  finish(): void {
    if (!this.ended) throw new FerryError('INVALID_REQUEST', `delta: stream ended ${this.#buf.length > 0 ? `${this.#buf.length} bytes into a record` : 'without its end record'}`);
  }
}

/**
 * What both hosts must agree the base checkpoint is before a delta applies to it: every file's
 * name, size and chunk ids. A checkpoint of the same number but other content (a protection made
 * anew, another DR host) has another digest, and the receiver refuses the delta.
 */
export function baseDigest(files: readonly { name: string; size: number; chunks: readonly (string | null)[] }[]): string {
  return createHash('sha256').update(JSON.stringify(files.map((f) => [f.name, f.size, f.chunks]))).digest('hex');
}
