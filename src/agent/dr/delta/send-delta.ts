// Sender of an incremental checkpoint: the header names the base checkpoint (the one this host
// keeps in dr-base/ and in its own store, which is also the DR host's newest), then channel 0
// carries the page diff's records (format.ts) as the worker finds them, then the end record.
// The result names every chunk of the new checkpoint (the diff computed the changed ones'
// ids; unchanged chunks keep the base's), which is what the next checkpoint's base records.
import { FerryError, asFailureCode } from '../../../contracts/index.js';
import type { DataSession } from '../../data-plane/plane.js';
import type { CheckpointFile } from '../store/index.js';
import { CHUNK_BYTES, channels, readLine, write, type FileToSend, type Header, type Verdict } from '../transfer.js';
import { baseFilePath, type BaseFiles } from './base-files.js';
import { PageDiff, type DiffFile } from './diff.js';
import { PAGE_BYTES, baseDigest, endRecord } from './format.js';

export interface DeltaResult extends Verdict {
  /** The new checkpoint's files as both stores name them. */
  files: CheckpointFile[];
  /** Bytes of the 4 KiB pages that differed from the base. */
  changedBytes: number;
}

/** What the page diff compares: each new file with the base's file of the same name, if any. */
export function diffFiles(vmDir: string, files: FileToSend[], base: BaseFiles): DiffFile[] {
  return files.map((f) => {
    const b = base.files.find((x) => x.name === f.name);
    return b
      ? { name: f.name, path: f.path, size: f.size, basePath: baseFilePath(vmDir, f.name), baseSize: b.size, baseChunks: b.chunks }
      : { name: f.name, path: f.path, size: f.size, baseSize: 0, baseChunks: [] };
  });
}

export async function sendDelta(s: DataSession, diff: DiffFile[], manifest: Header['manifest'], base: BaseFiles, onBytes: (n: number) => void): Promise<DeltaResult> {
  const { control, data } = channels(s);
  const verdict = readLine<Verdict>(control);
  verdict.catch(() => undefined);
  const header: Header = { files: diff.map((f) => ({ name: f.name, size: f.size })), manifest, base: base.seq, baseDigest: baseDigest(base.files) };
  await write(control, Buffer.from(`${JSON.stringify(header)}\n`));
  const pd = new PageDiff(diff);
  try {
    for await (const batch of pd.batches()) {
      const records = Buffer.from(batch.records.buffer, batch.records.byteOffset, batch.records.byteLength);
      await write(data, records);
      onBytes(records.length);
    }
    await write(data, endRecord());
    data.end();
  } finally {
    pd.terminate();
  }
  const v = await verdict;
  if (v.error) throw new FerryError(asFailureCode(v.error.code) === 'STORE_FULL' ? 'NO_CAPACITY' : 'INTERNAL', `DR host: ${v.error.message}`);
  const ids = pd.result.files;
  const files = diff.map((f, i): CheckpointFile => ({ name: f.name, size: f.size, chunkBytes: CHUNK_BYTES, chunks: ids[i]! }));
  return { ...v, changedBytes: pd.result.changedPages * PAGE_BYTES, files };
}
