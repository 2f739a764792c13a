// The chunk files themselves: <root>/chunks/<first 2 hex>/<64 hex>, the raw (uncompressed)
// bytes whose SHA-256 is the name. A chunk is written under <root>/tmp/, fsync'd, then renamed
// into place, so its name only ever points at complete content; the renames are made durable in
// batches (syncDirty) before a commit relies on them. tmp/ is emptied on open: anything there
// is a write a crash cut short. tmp/ and chunks/ are on one filesystem, so rename is atomic.
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import { open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { StoreError } from './errors.js';

const HEX_NAME = /^[0-9a-f]{64}$/;

export function sha256(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}

/** Throws STORE_CHUNK_CORRUPT unless `data` hashes to `id`. */
export function checkChunk(id: Buffer, data: Buffer, where: string): void {
  if (!sha256(data).equals(id)) {
    throw new StoreError('STORE_CHUNK_CORRUPT', `chunk ${id.toString('hex')} (${where}): content does not match its id`);
  }
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export class ChunkFiles {
  readonly chunksDir: string;
  readonly tmpDir: string;
  /** Fan-out directories that gained a name since they were last fsync'd. */
  private readonly dirty = new Set<string>();

  constructor(readonly root: string) {
    this.chunksDir = join(root, 'chunks');
    this.tmpDir = join(root, 'tmp');
  }

  /** Creates the layout, drops half-written leftovers, and makes every name on disk durable. */
  prepare(): void {
    mkdirSync(this.tmpDir, { recursive: true });
    // Emptied, not re-created: a full disk may have no room for a new directory.
    for (const name of readdirSync(this.tmpDir)) rmSync(join(this.tmpDir, name), { recursive: true, force: true });
    mkdirSync(this.chunksDir, { recursive: true });
    for (let i = 0; i < 256; i++) {
      const dir = join(this.chunksDir, i.toString(16).padStart(2, '0'));
      mkdirSync(dir, { recursive: true });
      // A rename from before a crash may not be durable yet; after this, every name is.
      fsyncDir(dir);
    }
    fsyncDir(this.chunksDir);
    fsyncDir(this.root);
  }

  path(hex: string): string {
    return join(this.chunksDir, hex.slice(0, 2), hex);
  }

  /** Writes a chunk durably under its final name (its directory entry: see syncDirty). */
  async write(hex: string, data: Buffer): Promise<void> {
    const tmp = join(this.tmpDir, `${hex}.${randomBytes(6).toString('hex')}`);
    const fh = await open(tmp, 'wx');
    try {
      try {
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.path(hex));
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    this.dirty.add(join(this.chunksDir, hex.slice(0, 2)));
  }

  /** fsyncs the directories that gained chunks, so their renames survive a power loss. */
  syncDirty(): void {
    for (const dir of this.dirty) {
      fsyncDir(dir);
      this.dirty.delete(dir);
    }
  }

  readSync(hex: string): Buffer | undefined {
    try {
      return readFileSync(this.path(hex));
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async read(hex: string): Promise<Buffer | undefined> {
    try {
      return await readFile(this.path(hex));
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  remove(hex: string): void {
    try {
      unlinkSync(this.path(hex));
    } catch (err) {
      if (!isMissing(err)) throw err;
    }
  }

  /** Every chunk file name on disk, one fan-out directory at a time. */
  async *names(): AsyncGenerator<string> {
    for (let i = 0; i < 256; i++) {
      const dir = join(this.chunksDir, i.toString(16).padStart(2, '0'));
      for (const name of await readdir(dir)) if (HEX_NAME.test(name)) yield name;
    }
  }

  /** Names of leftovers in tmp/ (for tests and diagnostics). */
  tmpNames(): string[] {
    return readdirSync(this.tmpDir);
  }
}
