// Worker thread: finds the 4 KiB pages of a new checkpoint's files that differ from the base
// checkpoint's files (kept on this host, base-files.ts), and hashes only the 64 KiB chunks that
// contain them. It reads only where either file holds data (extents.ts: holes are zeros in
// both), and it runs here, off the agent's event loop, with memcmp
// (Buffer.equals) per chunk and per page. It answers each `next` message with one batch of
// delta records (format.ts), so the agent holds at most one batch at a time; then one `done`
// with every file's chunk ids.
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { CHUNK_BYTES, PAGES_PER_CHUNK, PAGE_BYTES, encodeHead } from './format.js';
import { chunkSpans, dataRanges } from './extents.js';

export interface DiffFile {
  name: string;
  path: string;
  size: number;
  /** The base checkpoint's copy of this file, if it had one. */
  basePath?: string;
  baseSize: number;
  /** The base's chunk ids (null: all zeros), to name the chunks that did not change. */
  baseChunks: (string | null)[];
}

export interface DiffBatch {
  kind: 'batch';
  /** Records, back to back. */
  records: Uint8Array;
}

export interface DiffDone {
  kind: 'done';
  /** Each file's chunk ids in the new checkpoint. */
  files: (string | null)[][];
  changedPages: number;
}

/** Chunks compared per batch: 4 MiB of each file read at a time. */
const BATCH_CHUNKS = 64;
const ZERO = Buffer.alloc(CHUNK_BYTES);

function readAt(fd: number | undefined, size: number, buf: Buffer, position: number): void {
  buf.fill(0);
  if (fd === undefined || position >= size) return;
  const want = Math.min(buf.length, size - position);
  for (let done = 0; done < want; ) {
    const n = readSync(fd, buf, done, want - done, position + done);
    if (n === 0) throw new Error(`file ended at ${position + done} of ${size} bytes`);
    done += n;
  }
}

function* batches(files: DiffFile[], ids: (string | null)[][], counter: { pages: number }): Generator<DiffBatch> {
  const cur = Buffer.alloc(BATCH_CHUNKS * CHUNK_BYTES);
  const old = Buffer.alloc(BATCH_CHUNKS * CHUNK_BYTES);
  for (let f = 0; f < files.length; f++) {
    const file = files[f]!;
    const fd = openSync(file.path, 'r');
    const baseFd = file.basePath !== undefined ? openSync(file.basePath, 'r') : undefined;
    try {
      const count = Math.ceil(file.size / CHUNK_BYTES);
      // Chunks in no data range of either file are zeros in both: unchanged, keeping the base's id (null).
      const out = Array.from({ length: count }, (_v, i): string | null => file.baseChunks[i] ?? null);
      ids.push(out);
      const ranges = [...dataRanges(file.path, file.size), ...(file.basePath !== undefined ? dataRanges(file.basePath, file.baseSize) : [])];
      for (const [from, to] of chunkSpans(ranges, count)) for (let first = from; first < to; first += BATCH_CHUNKS) {
        const n = Math.min(BATCH_CHUNKS, to - first);
        readAt(fd, file.size, cur.subarray(0, n * CHUNK_BYTES), first * CHUNK_BYTES);
        readAt(baseFd, file.baseSize, old.subarray(0, n * CHUNK_BYTES), first * CHUNK_BYTES);
        const records: Buffer[] = [];
        for (let k = 0; k < n; k++) {
          const i = first + k;
          const now = cur.subarray(k * CHUNK_BYTES, (k + 1) * CHUNK_BYTES);
          const was = old.subarray(k * CHUNK_BYTES, (k + 1) * CHUNK_BYTES);
          const baseId = i < file.baseChunks.length ? file.baseChunks[i]! : null;
          if (now.equals(was)) {
            out[i] = baseId;
            continue;
          }
          let mask = 0;
          const pages: Buffer[] = [];
          for (let p = 0; p < PAGES_PER_CHUNK; p++) {
            const a = now.subarray(p * PAGE_BYTES, (p + 1) * PAGE_BYTES);
            if (!a.equals(was.subarray(p * PAGE_BYTES, (p + 1) * PAGE_BYTES))) {
              mask |= 1 << p;
              pages.push(a);
            }
          }
          counter.pages += pages.length;
          const zero = now.equals(ZERO);
          const id = zero ? null : createHash('sha256').update(now).digest();
          out[i] = id ? id.toString('hex') : null;
          records.push(encodeHead(f, i, mask, id), ...pages);
        }
        if (records.length > 0) yield { kind: 'batch', records: new Uint8Array(Buffer.concat(records)) };
      }
    } finally {
      closeSync(fd);
      if (baseFd !== undefined) closeSync(baseFd);
    }
  }
}

if (parentPort) {
  const port = parentPort;
  const files = (workerData as { files: DiffFile[] }).files;
  const ids: (string | null)[][] = [];
  const counter = { pages: 0 };
  const it = batches(files, ids, counter);
  port.on('message', () => {
    try {
      const r = it.next();
      if (!r.done) {
        port.postMessage(r.value, [r.value.records.buffer as ArrayBuffer]);
        return;
      }
      port.postMessage({ kind: 'done', files: ids, changedPages: counter.pages } satisfies DiffDone);
    } catch (err) {
      port.postMessage({ kind: 'error', message: err instanceof Error ? err.message : String(err) });
    }
  });
}
