// Helpers for the chunk store's tests: stores in throwaway directories, chunks and manifests.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChunkStore, type ChunkStoreOptions } from '../agent/dr/store/chunk-store.js';
import type { CheckpointFile, CheckpointManifest } from '../agent/dr/store/manifest.js';
import type { Staging } from '../agent/dr/store/staging.js';

export const CHUNK = 64 * 1024;

export const idOf = (data: Buffer): Buffer => createHash('sha256').update(data).digest();
export const hexOf = (data: Buffer): string => idOf(data).toString('hex');
export const chunk = (bytes = CHUNK): Buffer => randomBytes(bytes);

export function tempDir(tag: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), `ferry-store-${tag}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A store in a fresh temp dir, for one test; `t.after` closes and removes it. */
export function scratchStore(t: { after(fn: () => void): void }, opts: ChunkStoreOptions = {}): { store: ChunkStore; dir: string; reopen(): ChunkStore } {
  const tmp = tempDir('t');
  const dir = join(tmp.path, 'store');
  const ctl = {
    store: ChunkStore.open(dir, { reserveBytes: 0, ...opts }),
    dir,
    reopen(): ChunkStore {
      ctl.store.close();
      ctl.store = ChunkStore.open(dir, { reserveBytes: 0, ...opts });
      return ctl.store;
    },
  };
  t.after(() => {
    ctl.store.close();
    tmp.remove();
  });
  return ctl;
}

/** A file made of these chunks (null: a zero chunk), cut to `size` bytes if given (a padded last chunk). */
export function fileOf(name: string, parts: (Buffer | null)[], size?: number): { file: CheckpointFile; bytes: Buffer } {
  const bytes = Buffer.concat(parts.map((p) => p ?? Buffer.alloc(CHUNK))).subarray(0, size);
  return { file: { name, size: bytes.length, chunkBytes: CHUNK, chunks: parts.map((p) => (p ? hexOf(p) : null)) }, bytes };
}

export function manifestOf(vm: string, seq: number, files: CheckpointFile[]): CheckpointManifest {
  return { vm, uuid: `uuid-${vm}`, seq, takenAt: new Date(Date.UTC(2025, 0, 1, 0, seq)).toISOString(), spec: { name: vm }, files, meta: { pauseMs: 1 } };
}

export async function putAll(staging: Staging, parts: (Buffer | null)[]): Promise<void> {
  for (const p of parts) if (p) await staging.putChunk(idOf(p), p);
}

/** Begins, puts and commits one checkpoint with one single-chunk file per part (any sizes). */
export async function commitOf(store: ChunkStore, vm: string, seq: number, parts: Buffer[]): Promise<void> {
  const s = store.begin(vm, seq);
  await putAll(s, parts);
  s.commit(manifestOf(vm, seq, parts.map((p, i) => fileOf(`f${i}`, [p]).file)));
}

/** Asserts a StoreError with this code (for assert.throws / assert.rejects). */
export const code = (c: string) => (err: unknown) => (err as { code?: string }).code === c;
