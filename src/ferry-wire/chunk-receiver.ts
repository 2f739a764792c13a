// Chunked mode, receiving side of channel 0: answers each MANIFEST with the chunks it lacks
// (WANT), verifies every chunk against its id after decoding (WIRE_CHUNK_CORRUPT otherwise),
// delivers rounds strictly in order — a round's bytes go out only when all of it is verified —
// and ACKs each round. Chunks come from: zero flag, this round, the session cache, a chunk
// awaited by an earlier round, or the caller's store.
import { chunkId, decompress, zeroChunkId } from './codecs.js';
import { CHANNEL_MAIN, SESSION_CACHE_BYTES } from './constants.js';
import { WireError } from './errors.js';
import type { FrameOf, ManifestEntry } from './frames.js';
import type { Session } from './session.js';
import type { ChunkStore } from './types.js';

interface Round {
  entries: ManifestEntry[];
  data: (Buffer | undefined)[];
  fromStore: number[];
  missing: number;
  wanted: number;
}
type Inbound = FrameOf<'MANIFEST'> | FrameOf<'CHUNK'> | FrameOf<'CLOSE'>;

export class ChunkReceiver {
  #s: Session;
  #store: ChunkStore | undefined;
  #rounds = new Map<number, Round>();
  #next = 0;
  #ended = false;
  /** id (hex) → where it is awaited. */
  #awaited = new Map<string, { round: Round; index: number }[]>();
  #cache = new Map<string, Buffer>();
  #cacheBytes = 0;
  #queue: Promise<void> = Promise.resolve();
  #aborted = false;

  constructor(s: Session, store: ChunkStore | undefined) {
    this.#s = s;
    this.#store = store;
  }

  /** Frames are handled one at a time, in order (store look-ups may be async). */
  onFrame(f: Inbound): void {
    if (f.type === 'MANIFEST') {
      let total = 0;
      for (const e of f.entries) total += e.length;
      this.#s.mainChannel().accountIncoming(total); // bounded by the channel window
    }
    this.#queue = this.#queue
      .then(() => (this.#aborted ? undefined : this.#handle(f)))
      .catch((err: Error) => this.#s.destroy(err));
  }

  abort(): void {
    this.#aborted = true;
    this.#rounds.clear();
    this.#awaited.clear();
    this.#cache.clear();
  }

  async #handle(f: Inbound): Promise<void> {
    if (f.type === 'CLOSE') {
      this.#ended = true;
      return this.#deliver();
    }
    if (f.type === 'CHUNK') return this.#onChunk(f);
    if (f.round < this.#next || this.#rounds.has(f.round)) throw new WireError('WIRE_PROTOCOL', `MANIFEST repeats round ${f.round}`);
    const r: Round = { entries: f.entries, data: new Array<Buffer | undefined>(f.entries.length), fromStore: [], missing: 0, wanted: 0 };
    this.#rounds.set(f.round, r);
    const want: number[] = [];
    for (let i = 0; i < f.entries.length; i++) {
      const e = f.entries[i]!;
      const hex = e.id.toString('hex');
      if (e.zero) {
        if (!zeroChunkId(e.length).equals(e.id)) throw new WireError('WIRE_CHUNK_CORRUPT', `zero chunk ${hex} has a wrong id`);
        r.data[i] = Buffer.alloc(e.length);
      } else if (this.#cache.has(hex)) {
        r.data[i] = this.#cache.get(hex);
      } else if (this.#awaited.has(hex)) {
        this.#awaited.get(hex)!.push({ round: r, index: i });
        r.missing++;
      } else if (this.#store && (await this.#store.hasChunk(e.id))) {
        r.fromStore.push(i);
      } else {
        this.#awaited.set(hex, [{ round: r, index: i }]);
        r.missing++;
        want.push(i);
      }
    }
    r.wanted = want.length;
    this.#s.writeFrame({ type: 'WANT', channel: CHANNEL_MAIN, round: f.round, indices: want });
    await this.#deliver();
  }

  async #onChunk(f: FrameOf<'CHUNK'>): Promise<void> {
    const r = this.#rounds.get(f.round);
    const e = r?.entries[f.index];
    if (!r || !e || r.data[f.index] || !e.id.equals(f.id)) throw new WireError('WIRE_PROTOCOL', `unexpected CHUNK ${f.round}/${f.index}`);
    const data = decompress(f.codec, f.body, e.length);
    if (data.length !== e.length || !chunkId(data).equals(e.id)) {
      throw new WireError('WIRE_CHUNK_CORRUPT', `chunk ${f.round}/${f.index} does not match its id ${e.id.toString('hex').slice(0, 16)}…`);
    }
    const own = f.codec === 'raw' ? Buffer.from(data) : data; // raw bodies are views of a socket read
    const hex = e.id.toString('hex');
    for (const w of this.#awaited.get(hex) ?? []) {
      w.round.data[w.index] = own;
      w.round.missing--;
    }
    this.#awaited.delete(hex);
    this.#remember(hex, own);
    await this.#deliver();
  }

  #remember(hex: string, data: Buffer): void {
    this.#cache.set(hex, data);
    this.#cacheBytes += data.length;
    for (const [k, v] of this.#cache) {
      if (this.#cacheBytes <= SESSION_CACHE_BYTES) break;
      this.#cache.delete(k);
      this.#cacheBytes -= v.length;
    }
  }

  /** Delivers every complete round at the head, in order. */
  async #deliver(): Promise<void> {
    for (let r = this.#rounds.get(this.#next); r && r.missing === 0; r = this.#rounds.get(this.#next)) {
      for (const i of r.fromStore) {
        const e = r.entries[i]!;
        const data = await this.#store!.getChunk(e.id);
        if (!data || !chunkId(data).equals(e.id)) throw new WireError('WIRE_CHUNK_CORRUPT', `store chunk ${e.id.toString('hex')} missing or corrupt`);
        r.data[i] = data;
      }
      if (this.#aborted) return;
      let bytes = 0;
      for (const d of r.data) {
        this.#s.deliverMain(d!);
        bytes += d!.length;
      }
      this.#s.writeFrame({ type: 'ACK', channel: CHANNEL_MAIN, round: this.#next, chunks: r.wanted, bytes });
      this.#rounds.delete(this.#next);
      this.#next++;
    }
    if (this.#ended && this.#rounds.size === 0) this.#s.mainChannel().remoteEnd();
  }
}
