// Chunked mode, sending side of channel 0: cuts the stream into fixed-size chunks, lists them
// in a MANIFEST per round, sends only the chunks the receiver WANTs (compressed per codec
// policy; zero chunks never travel), and frees a round on its ACK. Rounds are pipelined; the
// channel's flow-control window bounds how many are in flight.
import { chooseCodec, entropyBitsPerByte } from './codec-policy.js';
import { chunkId, codecSpeeds, compress, isZero } from './codecs.js';
import { CHANNEL_MAIN, CHUNKS_PER_ROUND, ROUND_FLUSH_MS } from './constants.js';
import { WireError } from './errors.js';
import type { FrameOf, ManifestEntry } from './frames.js';
import type { Session } from './session.js';

interface Chunk {
  id: Buffer;
  data: Buffer;
  zero: boolean;
}
interface Round {
  chunks: Chunk[];
  wireBytes: number;
}

export class ChunkSender {
  #s: Session;
  #chunkBytes: number;
  #parts: Buffer[] = [];
  #partLen = 0;
  #building: Chunk[] = [];
  #rounds = new Map<number, Round>();
  #nextRound = 0;
  /** Every outbound frame of this sender goes through this chain, so manifests stay in round order. */
  #tail: Promise<unknown> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #idle: (() => void)[] = [];
  #failed: Error | undefined;
  #startedAt = 0;
  #ackedWire = 0;

  constructor(s: Session, chunkBytes: number) {
    this.#s = s;
    this.#chunkBytes = chunkBytes;
  }

  async write(piece: Buffer): Promise<void> {
    this.#parts.push(piece);
    this.#partLen += piece.length;
    while (this.#partLen >= this.#chunkBytes) this.#cut(this.#chunkBytes);
    if (this.#building.length >= CHUNKS_PER_ROUND) await this.#flushRound();
    this.#arm();
  }

  /** Flushes what is left (a short last chunk) and waits until its manifest is written. */
  async finish(): Promise<void> {
    clearTimeout(this.#timer);
    if (this.#partLen > 0) this.#cut(this.#partLen);
    await this.#flushRound();
    await this.#tail;
  }

  /** Resolves once every round has been acknowledged. */
  idle(): Promise<void> {
    if (this.#failed) return Promise.reject(this.#failed);
    if (this.#rounds.size === 0 && this.#building.length === 0 && this.#partLen === 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.#idle.push(resolve));
  }

  abort(err: Error): void {
    this.#failed = err;
    clearTimeout(this.#timer);
    this.#rounds.clear();
    this.#wakeIdle();
  }

  #arm(): void {
    clearTimeout(this.#timer);
    if (this.#partLen === 0 && this.#building.length === 0) return;
    // When the writer pauses (QEMU waits for the return path, or it is the stream's tail), send what we have.
    this.#timer = setTimeout(() => {
      if (this.#partLen > 0) this.#cut(this.#partLen);
      this.#flushRound().catch((err: Error) => this.#s.destroy(err));
    }, ROUND_FLUSH_MS);
  }

  #cut(n: number): void {
    const all = this.#parts.length === 1 ? this.#parts[0]! : Buffer.concat(this.#parts, this.#partLen);
    const data = Buffer.from(all.subarray(0, n)); // own copy: the writer may reuse its buffer
    const rest = all.subarray(n);
    this.#parts = rest.length > 0 ? [rest] : [];
    this.#partLen = rest.length;
    const zero = isZero(data);
    this.#building.push({ id: chunkId(data), data, zero });
  }

  #flushRound(): Promise<void> {
    if (this.#building.length === 0) return this.#tail.then(() => undefined);
    const round = this.#nextRound++;
    const chunks = this.#building;
    this.#building = [];
    this.#rounds.set(round, { chunks, wireBytes: 0 });
    if (this.#startedAt === 0) this.#startedAt = performance.now();
    const entries: ManifestEntry[] = chunks.map((c) => ({ id: c.id, length: c.data.length, zero: c.zero }));
    return this.#chain(async () => {
      const n = await this.#s.sendBulk({ type: 'MANIFEST', channel: CHANNEL_MAIN, round, entries });
      const r = this.#rounds.get(round);
      if (r) r.wireBytes += n;
    });
  }

  #chain(fn: () => Promise<void>): Promise<void> {
    const next = this.#tail.then(fn);
    this.#tail = next.catch(() => undefined);
    return next;
  }

  onFrame(f: FrameOf<'WANT'> | FrameOf<'ACK'>): void {
    const r = this.#rounds.get(f.round);
    if (!r) throw new WireError('WIRE_PROTOCOL', `${f.type} for unknown round ${f.round}`);
    if (f.type === 'ACK') return this.#onAck(f.round, r);
    const zeros = r.chunks.filter((c) => c.zero).length;
    this.#s.stats.zeroChunks += zeros;
    this.#s.stats.chunksDeduped += r.chunks.length - zeros - f.indices.length;
    for (const ix of f.indices) {
      const c = r.chunks[ix];
      if (!c || c.zero) throw new WireError('WIRE_PROTOCOL', `WANT for bad index ${ix} of round ${f.round}`);
    }
    this.#chain(async () => {
      for (const ix of f.indices) await this.#sendChunk(f.round, ix, r);
    }).catch((err: Error) => this.#s.destroy(err));
  }

  async #sendChunk(round: number, index: number, r: Round): Promise<void> {
    const c = r.chunks[index]!;
    const codec = chooseCodec({ zero: false, entropyBits: entropyBitsPerByte(c.data), linkBytesPerSec: this.#linkBytesPerSec(), codecSpeeds: codecSpeeds() });
    let body = codec === 'raw' || codec === 'zero' ? c.data : compress(codec, c.data);
    let used = codec === 'zero' ? 'raw' : codec;
    if (body.length >= c.data.length) {
      body = c.data; // the guess was wrong: never send more than the raw bytes
      used = 'raw';
    }
    const n = await this.#s.sendBulk({ type: 'CHUNK', channel: CHANNEL_MAIN, round, index, codec: used, id: c.id, body });
    r.wireBytes += n;
    this.#s.stats.chunksSent++;
    if (used !== 'raw') this.#s.stats.compressedChunks++;
  }

  /** Link speed: the cap if there is one, else acknowledged wire bytes over time (unknown → fast). */
  #linkBytesPerSec(): number {
    const cap = this.#s.bucket?.bytesPerSec ?? Infinity;
    const secs = (performance.now() - this.#startedAt) / 1000;
    const measured = this.#ackedWire > 0 && secs > 0.05 ? this.#ackedWire / secs : Infinity;
    return Math.min(cap, measured);
  }

  #onAck(round: number, r: Round): void {
    this.#ackedWire += r.wireBytes;
    this.#rounds.delete(round);
    if (this.#rounds.size === 0 && this.#building.length === 0 && this.#partLen === 0) this.#wakeIdle();
  }

  #wakeIdle(): void {
    const w = this.#idle;
    this.#idle = [];
    for (const fn of w) fn();
  }
}
