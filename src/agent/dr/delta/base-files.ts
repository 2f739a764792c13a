// The protected host's copy of the last checkpoint the DR host committed (`<vm dir>/dr-base/`):
// the files as captured (memory image, raw disks) and `base.json` naming their checkpoint. The
// next checkpoint is compared with them page by page (diff-worker.ts) and sends only what
// differs. base.json is written last and removed first, so a crash in between leaves no base
// (the next checkpoint is a full one), never a base that claims files it does not have.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const DIR = 'dr-base';
const RECORD = 'base.json';

export interface BaseFiles {
  seq: number;
  /** Each file with its chunk ids as both hosts' stores name them (null: all zeros). */
  files: { name: string; size: number; chunks: (string | null)[] }[];
}

export const baseDir = (vmDir: string): string => join(vmDir, DIR);
export const baseFilePath = (vmDir: string, name: string): string => join(vmDir, DIR, name);

export function readBase(vmDir: string): BaseFiles | undefined {
  try {
    const b = JSON.parse(readFileSync(join(vmDir, DIR, RECORD), 'utf8')) as BaseFiles;
    if (!Number.isInteger(b.seq) || !Array.isArray(b.files) || !b.files.every((f) => Array.isArray(f.chunks))) return undefined;
    return b.files.every((f) => existsSync(baseFilePath(vmDir, f.name))) ? b : undefined;
  } catch {
    return undefined;
  }
}

/** Makes `files` (moved, not copied: they are the capture's, about to be removed) the base of checkpoint `seq`; `chunks[i]` are file i's chunk ids. */
export function keepAsBase(vmDir: string, seq: number, files: { name: string; path: string; size: number }[], chunks: (string | null)[][]): void {
  dropBase(vmDir);
  mkdirSync(baseDir(vmDir), { recursive: true });
  for (const f of files) renameSync(f.path, baseFilePath(vmDir, f.name));
  const tmp = join(vmDir, DIR, `${RECORD}.tmp`);
  writeFileSync(tmp, JSON.stringify({ seq, files: files.map(({ name, size }, i) => ({ name, size, chunks: chunks[i] ?? [] })) } satisfies BaseFiles));
  renameSync(tmp, join(vmDir, DIR, RECORD));
}

export function dropBase(vmDir: string): void {
  rmSync(join(vmDir, DIR, RECORD), { force: true });
  rmSync(baseDir(vmDir), { recursive: true, force: true });
}
