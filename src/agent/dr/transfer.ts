// Moving one checkpoint's files over a ferry-wire replication session (docs/dr.md):
// channel 1 carries one JSON line each way (the sender's header, the receiver's verdict),
// channel 0 carries the files back to back, each padded with zeros to a multiple of the chunk
// size, in chunked mode. The session's receiver already skips chunks the DR store holds
// (receiver-driven WANT) and verifies every chunk it gets; here the DR side cuts channel 0 at
// the same fixed offsets, keeps the new chunks through a store staging, and commits the
// manifest only once every byte of every file arrived.
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import { FerryError, asFailureCode } from '../../contracts/index.js';
import { isZero } from '../../ferry-wire/codecs.js';
import type { DataSession } from '../data-plane/plane.js';
import { failureOf, type JobFailure } from './errors.js';
import type { CheckpointFile, CheckpointManifest, Staging } from './store/index.js';

import { CHUNK_BYTES } from './delta/format.js';
import { receiveDelta, type DeltaBase } from './delta/receive-delta.js';

export { CHUNK_BYTES };
const READ_BYTES = 16 * CHUNK_BYTES;
/** The header and the verdict are small; anything longer is refused. */
const MAX_LINE_BYTES = 64 * 1024;
const CONTROL_CHANNEL = 1;
const PUTS_IN_FLIGHT = 16;

export interface FileToSend {
  name: string;
  path: string;
  size: number;
}

/** What the protected host notes in a checkpoint's manifest (`meta`; the store keeps it as a plain record), read back by the DR host and the store's listing. */
export type CheckpointMeta = {
  pauseMs?: number;
  memoryBytes?: number;
  diskBytes?: number;
  guestSeq?: number;
};

export interface Header {
  files: { name: string; size: number }[];
  manifest: Omit<CheckpointManifest, 'files'>;
  /** An incremental checkpoint: the seq of the committed checkpoint its delta applies to (delta/)… */
  base?: number;
  /** …and the digest of that checkpoint's files as the sender knows them (delta/format.ts baseDigest). */
  baseDigest?: string;
}

export interface Verdict {
  committed?: number;
  newBytes?: number;
  /** The receiver's failure; its code read back with asFailureCode (a peer may be newer). */
  error?: JobFailure;
}

export const padded = (size: number): number => Math.ceil(size / CHUNK_BYTES) * CHUNK_BYTES;

/**
 * The session's channels, each with a standing error listener: a failed session errors every
 * channel, and the failure reaches us through the write or read we are waiting on (or
 * session.closed), never as an unhandled 'error' event that would end the process.
 */
export function channels(s: DataSession): { control: Duplex; data: Duplex } {
  const control = s.channel(CONTROL_CHANNEL);
  const data = s.channel(0);
  for (const ch of [control, data]) if (ch.listenerCount('error') === 0) ch.on('error', () => undefined);
  return { control, data };
}

/** Reads one newline-terminated JSON value from a channel (bounded). */
export function readLine<T>(ch: Duplex): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const done = (err?: Error, v?: T): void => {
      ch.off('data', onData).off('error', onErr).off('end', onEnd);
      if (err) reject(err);
      else resolve(v as T);
    };
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      const nl = buf.indexOf(0x0a);
      if (nl < 0) {
        if (buf.length > MAX_LINE_BYTES) done(new FerryError('INVALID_REQUEST', `control line longer than ${MAX_LINE_BYTES} bytes`));
        return;
      }
      try {
        done(undefined, JSON.parse(buf.subarray(0, nl).toString('utf8')) as T);
      } catch (err) {
        done(new FerryError('INVALID_REQUEST', `control line is not JSON: ${err instanceof Error ? err.message : String(err)}`));
      }
    };
    const onErr = (e: Error): void => done(e);
    const onEnd = (): void => done(new FerryError('HOST_DOWN', 'the peer ended the control channel before its answer'));
    ch.on('data', onData).on('error', onErr).on('end', onEnd);
  });
}

export function write(ch: Duplex, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    ch.write(data, (err) => (err ? reject(err) : resolve()));
  });
}

type PutChunk = (id: Buffer, chunk: Buffer) => Promise<boolean>;

/**
 * Store writes in flight, at most PUTS_IN_FLIGHT: each one ends in an fsync, and overlapping
 * them (libuv's thread pool) instead of waiting for each in turn is what keeps a checkpoint
 * from being bound by the disk's sync latency. The first failure is rethrown by the next add()
 * or by drain(), which a commit must await.
 */
export class PutQueue {
  readonly #running = new Set<Promise<void>>();
  #failed: unknown;

  async add(put: () => Promise<unknown>): Promise<void> {
    this.#check();
    while (this.#running.size >= PUTS_IN_FLIGHT) await Promise.race(this.#running);
    this.#check();
    const p: Promise<void> = put().then(
      () => undefined,
      (err: unknown) => void (this.#failed ??= err),
    ).finally(() => this.#running.delete(p));
    this.#running.add(p);
  }

  async drain(): Promise<void> {
    await Promise.all(this.#running);
    this.#check();
  }

  #check(): void {
    if (this.#failed !== undefined) throw this.#failed;
  }
}

/** Cuts `buf` (a multiple of CHUNK_BYTES, from a file's chunk boundary) into chunk ids, queueing each non-zero chunk for `put`. */
export async function keepChunks(buf: Buffer, put: PutChunk, queue: PutQueue, into: (string | null)[]): Promise<void> {
  for (let o = 0; o < buf.length; o += CHUNK_BYTES) {
    const chunk = buf.subarray(o, o + CHUNK_BYTES);
    if (isZero(chunk)) {
      into.push(null);
      continue;
    }
    const id = createHash('sha256').update(chunk).digest();
    into.push(id.toString('hex'));
    await queue.add(() => put(id, chunk));
  }
}

/**
 * Sender: header, then the files; resolves with the receiver's verdict (throws if it refused).
 * With `local`, the same chunks also go into this host's own store, so that it holds the last
 * checkpoint both sides share (a failback then sends only what changed since).
 */
export async function sendFiles(s: DataSession, files: FileToSend[], manifest: Header['manifest'], onBytes: (n: number) => void, local?: Staging): Promise<Verdict & { localFiles?: CheckpointFile[] }> {
  const { control, data } = channels(s);
  const verdict = readLine<Verdict>(control);
  verdict.catch(() => undefined);
  const header: Header = { files: files.map((f) => ({ name: f.name, size: f.size })), manifest };
  await write(control, Buffer.from(`${JSON.stringify(header)}\n`));
  const localFiles: CheckpointFile[] = [];
  const localPuts = new PutQueue();
  for (const f of files) {
    const lf: CheckpointFile = { name: f.name, size: f.size, chunkBytes: CHUNK_BYTES, chunks: [] };
    localFiles.push(lf);
    const fh = await open(f.path, 'r');
    try {
      for (let off = 0; off < f.size; ) {
        // Fresh zeroed buffers: the session may still hold the previous one, and the tail of a
        // file is padded with zeros so every chunk starts at a fixed offset.
        const buf = Buffer.alloc(Math.min(READ_BYTES, padded(f.size - off)));
        const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, f.size - off), off);
        if (bytesRead === 0) throw new FerryError('INTERNAL', `${f.path} ended at ${off} of ${f.size} bytes`);
        off += bytesRead;
        const piece = off >= f.size ? buf : buf.subarray(0, bytesRead);
        if (local) await keepChunks(piece, (id, c) => local.putChunk(id, c), localPuts, lf.chunks);
        await write(data, piece);
        onBytes(bytesRead);
      }
    } finally {
      await fh.close();
    }
  }
  data.end();
  await localPuts.drain();
  const v = await verdict;
  if (v.error) throw new FerryError(asFailureCode(v.error.code) === 'STORE_FULL' ? 'NO_CAPACITY' : 'INTERNAL', `DR host: ${v.error.message}`);
  return { ...v, ...(local ? { localFiles } : {}) };
}

/** Receiver: reads the header and the files (or, with a base, the delta) into `staging`; commits and answers the verdict. */
export async function receiveFiles(s: DataSession, staging: Staging, onBytes: (n: number) => void, base?: DeltaBase): Promise<{ manifest: CheckpointManifest; newBytes: number; delta: boolean }> {
  const { control, data } = channels(s);
  const header = await readLine<Header>(control);
  checkHeader(header);
  try {
    const delta = header.base !== undefined;
    if (delta && !base) throw new FerryError('INVALID_REQUEST', 'this receiver takes no incremental checkpoint');
    const r = delta ? await receiveDelta(data, header.manifest.vm, { seq: header.base!, digest: String(header.baseDigest) }, header.files, staging, base!, onBytes) : await receiveWhole(data, header, staging, onBytes);
    const manifest: CheckpointManifest = { ...header.manifest, files: r.files };
    staging.commit(manifest);
    await write(control, Buffer.from(`${JSON.stringify({ committed: manifest.seq, newBytes: r.newBytes } satisfies Verdict)}\n`));
    control.end();
    return { manifest, newBytes: r.newBytes, delta };
  } catch (err) {
    staging.abort();
    control.write(`${JSON.stringify({ error: failureOf(err) } satisfies Verdict)}\n`);
    throw err;
  }
}

/** Every file whole, cut into chunks at fixed offsets; the session has skipped the chunks the store holds. */
async function receiveWhole(data: Duplex, header: Header, staging: Staging, onBytes: (n: number) => void): Promise<{ files: CheckpointFile[]; newBytes: number }> {
  const files: CheckpointFile[] = header.files.map((f) => ({ name: f.name, size: f.size, chunkBytes: CHUNK_BYTES, chunks: [] }));
  let fileIndex = 0;
  let newBytes = 0;
  const counting: PutChunk = async (id, chunk) => {
    const isNew = await staging.putChunk(id, chunk);
    if (isNew) newBytes += chunk.length;
    return isNew;
  };
  const puts = new PutQueue();
  const take = async (chunk: Buffer): Promise<void> => {
    while (fileIndex < files.length && files[fileIndex]!.chunks.length * CHUNK_BYTES >= padded(files[fileIndex]!.size)) fileIndex++;
    const file = files[fileIndex];
    if (!file) throw new FerryError('INVALID_REQUEST', 'more data than the header announced');
    await keepChunks(chunk, counting, puts, file.chunks);
    onBytes(chunk.length);
  };
  // Pieces usually arrive as whole chunks: cut them in place, copying only to join a split one.
  let rest: Buffer = Buffer.alloc(0);
  for await (const piece of data as AsyncIterable<Buffer>) {
    let all = rest.length === 0 ? piece : Buffer.concat([rest, piece]);
    while (all.length >= CHUNK_BYTES) {
      await take(all.subarray(0, CHUNK_BYTES));
      all = all.subarray(CHUNK_BYTES);
    }
    rest = all;
  }
  if (rest.length > 0) throw new FerryError('INVALID_REQUEST', `stream ended ${rest.length} bytes into a chunk`);
  await puts.drain();
  const short = files.find((f) => f.chunks.length * CHUNK_BYTES !== padded(f.size));
  if (short) throw new FerryError('INVALID_REQUEST', `file ${short.name} arrived incomplete (${short.chunks.length * CHUNK_BYTES} of ${padded(short.size)} bytes)`);
  return { files, newBytes };
}

const MAX_FILES = 64;
const MAX_FILE_BYTES = 2 ** 50;

function checkHeader(h: Header): void {
  const ok = h && Array.isArray(h.files) && h.files.length > 0 && h.files.length <= MAX_FILES &&
    h.files.every((f) => typeof f.name === 'string' && /^[a-z0-9-]{1,32}$/.test(f.name) && Number.isSafeInteger(f.size) && f.size >= 0 && f.size <= MAX_FILE_BYTES) &&
    typeof h.manifest === 'object' && h.manifest !== null && typeof h.manifest.vm === 'string' && Number.isInteger(h.manifest.seq) &&
    (h.base === undefined || (Number.isSafeInteger(h.base) && h.base >= 0));
  if (!ok) throw new FerryError('INVALID_REQUEST', 'malformed checkpoint header');
}
