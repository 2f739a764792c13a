// rsync as the usual alternative to Ferry's checkpoint transfer, measured on the very files Ferry
// replicated: the DR host's chunk store is read (read-only: its SQLite index opened readonly,
// chunk files only read) to write checkpoint k's files out, and `rsync` updates a directory
// holding checkpoint k-1's files to k with its delta algorithm. rsync's own count of the bytes
// it moved (sent + received: the literal data and block matches one way, the block checksums
// the other) is its cost for that checkpoint.
//
// The store is never opened through ChunkStore: opening it would collect the agent's in-flight
// stagings as abandoned. Layout (src/agent/dr/store): index.db table `checkpoints` holds each
// committed manifest; chunks/<2 hex>/<64 hex> holds a chunk's raw bytes; a null chunk is zeros.
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';

const run = promisify(execFile);

interface ManifestFile {
  name: string;
  size: number;
  chunkBytes: number;
  chunks: (string | null)[];
}

/** Writes the files of committed checkpoint `seq` of `vm` into `dest` (zero chunks stay holes). */
export async function materialize(storeDir: string, vm: string, seq: number, dest: string): Promise<void> {
  const db = new Database(join(storeDir, 'index.db'), { readonly: true, fileMustExist: true });
  let files: ManifestFile[];
  try {
    const row = db.prepare('SELECT manifest FROM checkpoints WHERE vm = ? AND seq = ?').pluck().get(vm, seq) as string | undefined;
    if (row === undefined) throw new Error(`checkpoint ${vm}/${seq} is not in the store at ${storeDir}`);
    files = (JSON.parse(row) as { files: ManifestFile[] }).files;
  } finally {
    db.close();
  }
  mkdirSync(dest, { recursive: true });
  for (const f of files) {
    const fh = await open(join(dest, f.name), 'w');
    try {
      for (const [i, hex] of f.chunks.entries()) {
        if (hex) await fh.write(await readFile(join(storeDir, 'chunks', hex.slice(0, 2), hex)), 0, undefined, i * f.chunkBytes);
      }
      await fh.truncate(f.size);
    } finally {
      await fh.close();
    }
  }
}

export async function rsyncVersion(): Promise<string | undefined> {
  try {
    return /version (\S+)/.exec((await run('rsync', ['--version'])).stdout)?.[1] ?? 'unknown';
  } catch {
    return undefined;
  }
}

export interface RsyncStats {
  /** Sender to receiver plus receiver to sender, as rsync counts them. */
  wireBytes: number;
  literalBytes: number;
  matchedBytes: number;
}

/**
 * `rsync -rIz --no-whole-file --stats src/ dst/`: compressed like Ferry's transfer, with the delta
 * algorithm forced on (a local copy would otherwise send whole files) and every file compared
 * (-I: no skipping on size and time).
 */
export async function rsyncDelta(src: string, dst: string): Promise<RsyncStats> {
  const { stdout } = await run('rsync', ['-rIz', '--no-whole-file', '--stats', `${src}/`, `${dst}/`], { maxBuffer: 1 << 20 });
  const num = (label: string): number => {
    const m = new RegExp(`${label}: ([\\d,]+)`).exec(stdout);
    if (!m) throw new Error(`rsync --stats printed no "${label}": ${stdout.slice(0, 300)}`);
    return Number(m[1]!.replace(/,/g, ''));
  };
  return { wireBytes: num('Total bytes sent') + num('Total bytes received'), literalBytes: num('Literal data'), matchedBytes: num('Matched data') };
}
