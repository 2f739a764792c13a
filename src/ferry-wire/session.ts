// A ferry-wire session over one Duplex (a TLS socket in production). One cleanup path: every
// failure goes through destroy(), which clears timers and listeners, errors the channels and
// rejects `closed` and pending pings. Spec: docs/ferry-wire.md.
// Limits against a hostile peer (it holds a cluster certificate, nothing more): a frame on a
// channel neither side opened fails the session; a session has at most MAX_SESSION_CHANNELS
// channels and at most SESSION_WINDOW unacknowledged bytes across them (writers wait, readers
// refuse more); PONGs wait while the socket's queue is long, so an unread peer cannot grow it.
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Channel, type ChannelIo } from './channel.js';
import { ChunkReceiver } from './chunk-receiver.js';
import { ChunkSender } from './chunk-sender.js';
import { CHANNEL_MAIN, CONTROL_BACKLOG_BYTES, DEFAULT_CHUNK_BYTES, DEFAULT_MISSED_PINGS_LIMIT, DEFAULT_PING_INTERVAL_MS, MAX_CHANNEL, MAX_CHUNK_BYTES, MAX_DATA_PAYLOAD, MAX_SESSION_CHANNELS, SESSION_WINDOW } from './constants.js';
import { encodeFrame, encodeFrameParts } from './encoder.js';
import { errorCodeOf, remoteError, WireError } from './errors.js';
import type { Frame, Hello, TransferMode } from './frames.js';
import type { FrameParser } from './parser.js';
import { TokenBucket } from './rate-limit.js';
import type { SessionOptions, WireSession, WireStats } from './types.js';

const noop = (): void => {};

export class Session implements WireSession, ChannelIo {
  readonly hello: Hello;
  readonly mode: TransferMode;
  readonly stats: WireStats = { wireBytesOut: 0, wireBytesIn: 0, payloadBytesOut: 0, payloadBytesIn: 0, chunksSent: 0, chunksDeduped: 0, zeroChunks: 0, compressedChunks: 0 };
  readonly closed: Promise<void>;
  readonly bucket: TokenBucket | undefined;
  #socket: Duplex;
  #parser: FrameParser;
  #channels = new Map<number, Channel>();
  /** The peer may open channels 0..peerChannels-1 by sending on them; any other must be ours. */
  readonly #peerChannels: number;
  /** Channel bytes we sent that the peer has not granted back yet (≤ SESSION_WINDOW). */
  #sentUnacked = 0;
  #sessionCreditWaiters: (() => void)[] = [];
  /** Channel bytes the peer sent that we have not granted back yet (refused past SESSION_WINDOW). */
  #receivedUnacked = 0;
  /** The newest PING not answered yet because the socket's queue was long. */
  #pendingPong: { seq: number; time: number } | undefined;
  #sender: ChunkSender | undefined;
  #receiver: ChunkReceiver | undefined;
  #resolve!: () => void;
  #reject!: (err: Error) => void;
  #finished = false;
  #closing: Promise<void> | undefined;
  #doneSent = false;
  #doneReceived: (() => void) | undefined;
  #doneReceivedP: Promise<void>;
  #gotDone = false;
  #drain: { p: Promise<void>; resolve: () => void } | undefined;
  #pingTimer: NodeJS.Timeout;
  #unanswered = 0;
  #pingSeq = 0;
  #pings = new Map<number, { resolve: (rtt: number) => void; reject: (e: Error) => void }>();
  #signal: AbortSignal | undefined;
  #listeners: [string, (...a: never[]) => void][] = [];

  constructor(socket: Duplex, parser: FrameParser, hello: Hello, opts: SessionOptions, isOpener: boolean, pending: Frame[]) {
    this.#socket = socket;
    this.#parser = parser;
    this.hello = hello;
    this.mode = opts.mode;
    this.closed = new Promise<void>((res, rej) => ((this.#resolve = res), (this.#reject = rej)));
    this.closed.catch(noop); // callers may never look; a failed session must not crash the process
    this.#doneReceivedP = new Promise<void>((res) => (this.#doneReceived = res));
    this.#peerChannels = Math.min(MAX_SESSION_CHANNELS, Math.max(1, opts.peerChannels ?? 1));
    if (opts.bandwidthBytesPerSec) this.bucket = new TokenBucket(opts.bandwidthBytesPerSec);
    if (opts.mode === 'chunked') {
      const chunkBytes = Math.min(MAX_CHUNK_BYTES, Math.max(4096, opts.chunkBytes ?? DEFAULT_CHUNK_BYTES));
      if (isOpener) this.#sender = new ChunkSender(this, chunkBytes);
      else this.#receiver = new ChunkReceiver(this, opts.store);
    }
    const limit = opts.missedPingsLimit ?? DEFAULT_MISSED_PINGS_LIMIT;
    this.#pingTimer = setInterval(() => this.#heartbeat(limit), opts.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS);
    this.#pingTimer.unref();
    this.#on('data', (b: Buffer) => this.#onData(b));
    this.#on('drain', () => this.#wakeDrain());
    this.#on('error', (e: Error) => this.destroy(new WireError('WIRE_CONNECTION_LOST', `socket: ${e.message}`, { cause: e })));
    this.#on('close', () => this.destroy(new WireError('WIRE_CONNECTION_LOST', 'socket closed before DONE')));
    this.#on('end', () => {
      if (!this.#gotDone) this.destroy(new WireError('WIRE_CONNECTION_LOST', 'peer ended the stream before DONE'));
    });
    this.#signal = opts.signal;
    if (opts.signal?.aborted) queueMicrotask(() => this.destroy(new WireError('WIRE_ABORTED', 'aborted', { cause: opts.signal?.reason })));
    opts.signal?.addEventListener('abort', this.#onAbort);
    try {
      for (const f of pending) this.#handle(f);
    } catch (err) {
      queueMicrotask(() => this.destroy(err as Error));
    }
    socket.resume();
  }

  #onAbort = (): void => this.destroy(new WireError('WIRE_ABORTED', 'aborted', { cause: this.#signal?.reason }));

  #on(ev: string, fn: (...a: never[]) => void): void {
    this.#socket.on(ev, fn as (...a: unknown[]) => void);
    this.#listeners.push([ev, fn]);
  }

  channel(n: number): Channel {
    if (!Number.isInteger(n) || n < 0 || n > MAX_CHANNEL) throw new RangeError(`no channel ${n}`);
    const ch = this.#channel(n);
    ch.claimed = true;
    return ch;
  }

  /** The channel a peer's frame names: one we opened, or a new one in the peer's range; else refused. */
  #peerChannel(n: number): Channel {
    const ch = this.#channels.get(n);
    if (ch) return ch;
    if (n >= this.#peerChannels) throw new WireError('WIRE_PROTOCOL', `frame on channel ${n}, which nobody opened`);
    return this.#channel(n);
  }

  #channel(n: number): Channel {
    let ch = this.#channels.get(n);
    if (!ch) {
      if (this.#channels.size >= MAX_SESSION_CHANNELS) throw new WireError('WIRE_LIMIT', `more than ${MAX_SESSION_CHANNELS} channels in one session`);
      ch = new Channel(n, this);
      if (this.#finished) ch.destroy();
      this.#channels.set(n, ch);
    }
    return ch;
  }

  // ---- outbound ----------------------------------------------------------------------------

  /** Writes a frame now (control frames: small, never held back; still counted by the bucket). */
  writeFrame(f: Frame): number {
    if (this.#finished) throw new WireError('WIRE_ABORTED', 'session is closed');
    const parts = encodeFrameParts(f);
    let n = 0;
    this.#socket.cork();
    for (const p of parts) {
      this.#socket.write(p);
      n += p.length;
    }
    this.#socket.uncork();
    this.stats.wireBytesOut += n;
    this.bucket?.consume(n);
    return n;
  }

  /** Writes a bulk frame once the bandwidth cap and the socket's buffer allow it. */
  async sendBulk(f: Frame): Promise<number> {
    for (;;) {
      if (this.#finished) throw new WireError('WIRE_ABORTED', 'session is closed');
      const wait = this.bucket?.delayMs() ?? 0;
      if (wait > 0) await sleep(wait);
      else if (this.#socket.writableNeedDrain) await this.#waitDrain();
      else return this.writeFrame(f);
    }
  }

  #waitDrain(): Promise<void> {
    this.#drain ??= (() => {
      let resolve = noop;
      const p = new Promise<void>((r) => (resolve = r));
      return { p, resolve };
    })();
    return this.#drain.p;
  }

  #wakeDrain(): void {
    const d = this.#drain;
    this.#drain = undefined;
    d?.resolve();
    const pong = this.#pendingPong;
    this.#pendingPong = undefined;
    if (pong && !this.#finished) this.#answerPing(pong.seq, pong.time);
  }

  get maxDataPayload(): number {
    return this.bucket ? this.bucket.frameBytes(MAX_DATA_PAYLOAD) : MAX_DATA_PAYLOAD;
  }

  async writeChannel(ch: Channel, data: Buffer): Promise<void> {
    const chunked = this.#sender && ch.n === CHANNEL_MAIN;
    for (let o = 0; o < data.length; ) {
      const n = await this.#takeSessionCredit(ch, await ch.takeCredit(Math.min(data.length - o, this.maxDataPayload)));
      if (n === 0) continue;
      const piece = data.subarray(o, o + n);
      o += n;
      if (chunked) await this.#sender!.write(piece);
      else await this.sendBulk({ type: 'DATA', channel: ch.n, data: piece });
      this.stats.payloadBytesOut += n;
    }
  }

  /** Of `n` bytes of channel credit, keeps what the session window allows (returns the rest); 0 after waiting. */
  async #takeSessionCredit(ch: Channel, n: number): Promise<number> {
    const room = SESSION_WINDOW - this.#sentUnacked;
    const take = Math.max(0, Math.min(n, room));
    if (take < n) ch.refund(n - take);
    if (take === 0) {
      if (this.#finished) throw new WireError('WIRE_ABORTED', 'session is closed');
      await new Promise<void>((resolve) => this.#sessionCreditWaiters.push(resolve));
    }
    this.#sentUnacked += take;
    return take;
  }

  #returnSessionCredit(bytes: number): void {
    this.#sentUnacked = Math.max(0, this.#sentUnacked - bytes);
    const waiters = this.#sessionCreditWaiters;
    this.#sessionCreditWaiters = [];
    for (const w of waiters) w();
  }

  async endChannel(ch: Channel): Promise<void> {
    if (this.#sender && ch.n === CHANNEL_MAIN) await this.#sender.finish();
    if (!this.#finished) this.writeFrame({ type: 'CLOSE', channel: ch.n });
  }

  grantWindow(ch: Channel, bytes: number): void {
    this.#receivedUnacked = Math.max(0, this.#receivedUnacked - bytes);
    if (!this.#finished) this.writeFrame({ type: 'WINDOW', channel: ch.n, increment: bytes });
  }

  /** Counts bytes handed to a channel's reader against the session window. */
  #received(delivered: boolean, bytes: number): void {
    if (!delivered) return;
    this.#receivedUnacked += bytes;
    if (this.#receivedUnacked > SESSION_WINDOW) throw new WireError('WIRE_LIMIT', `peer has more than ${SESSION_WINDOW} bytes unacknowledged in one session`);
  }

  // ---- inbound -----------------------------------------------------------------------------

  #onData(buf: Buffer): void {
    this.stats.wireBytesIn += buf.length;
    try {
      for (const f of this.#parser.push(buf)) {
        if (this.#finished) return;
        this.#handle(f);
      }
    } catch (err) {
      this.destroy(err as Error);
    }
  }

  #handle(f: Frame): void {
    switch (f.type) {
      case 'DATA': {
        const ch = this.#peerChannel(f.channel);
        ch.accountIncoming(f.data.length);
        this.stats.payloadBytesIn += f.data.length;
        return this.#received(ch.deliver(f.data), f.data.length);
      }
      case 'WINDOW':
        this.#peerChannel(f.channel).addCredit(f.increment);
        return this.#returnSessionCredit(f.increment);
      case 'CLOSE':
        if (this.#receiver && f.channel === CHANNEL_MAIN) return this.#receiver.onFrame(f);
        return this.#peerChannel(f.channel).remoteEnd();
      case 'MANIFEST':
      case 'CHUNK':
        if (!this.#receiver || f.channel !== CHANNEL_MAIN) throw new WireError('WIRE_PROTOCOL', `unexpected ${f.type}`);
        return this.#receiver.onFrame(f);
      case 'WANT':
      case 'ACK':
        if (!this.#sender || f.channel !== CHANNEL_MAIN) throw new WireError('WIRE_PROTOCOL', `unexpected ${f.type}`);
        return this.#sender.onFrame(f);
      case 'PING':
        return this.#answerPing(f.seq, f.time);
      case 'PONG': {
        this.#unanswered = 0;
        const p = this.#pings.get(f.seq);
        this.#pings.delete(f.seq);
        p?.resolve(performance.now() - f.time);
        return;
      }
      case 'DONE':
        this.#gotDone = true;
        for (const ch of this.#channels.values()) ch.remoteEnd();
        this.#doneReceived?.();
        if (!this.#closing) this.close().catch(noop);
        return;
      case 'ERROR':
        return this.destroy(remoteError(f.code, f.message), false);
      case 'HELLO':
      case 'HELLO_ACK':
        throw new WireError('WIRE_PROTOCOL', `unexpected ${f.type} after the handshake`);
    }
  }

  /** Delivers reassembled channel-0 bytes (chunked mode, receiver). */
  deliverMain(data: Buffer): void {
    this.stats.payloadBytesIn += data.length;
    this.#received(this.#channel(CHANNEL_MAIN).deliver(data), data.length);
  }
  mainChannel(): Channel {
    return this.#channel(CHANNEL_MAIN);
  }

  // ---- liveness and lifecycle --------------------------------------------------------------

  /** A peer that pings without reading gets no growing queue of PONGs: only the newest waits for drain. */
  #answerPing(seq: number, time: number): void {
    if (this.#socket.writableLength < CONTROL_BACKLOG_BYTES) return void this.writeFrame({ type: 'PONG', channel: 0, seq, time });
    this.#pendingPong = { seq, time };
  }

  #heartbeat(limit: number): void {
    if (this.#unanswered >= limit) {
      this.destroy(new WireError('WIRE_PEER_SILENT', `${this.#unanswered} pings unanswered`));
      return;
    }
    this.#unanswered++;
    this.writeFrame({ type: 'PING', channel: 0, seq: ++this.#pingSeq >>> 0, time: performance.now() });
  }

  ping(): Promise<number> {
    if (this.#finished) return Promise.reject(new WireError('WIRE_ABORTED', 'session is closed'));
    const seq = ++this.#pingSeq >>> 0;
    const p = new Promise<number>((resolve, reject) => this.#pings.set(seq, { resolve, reject }));
    this.writeFrame({ type: 'PING', channel: 0, seq, time: performance.now() });
    return p;
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      const ends = [...this.#channels.values()].filter((ch) => !ch.writableEnded && !ch.destroyed).map((ch) => {
        const done = new Promise<void>((resolve) => ch.once('finish', resolve).once('close', resolve));
        ch.end();
        return done;
      });
      await Promise.all(ends);
      await this.#sender?.idle();
      if (this.#finished) return;
      this.writeFrame({ type: 'DONE', channel: 0 });
      this.#doneSent = true;
      await this.#doneReceivedP;
      if (this.#finished) return;
      this.#finish();
      this.#socket.end();
      this.#resolve();
    })();
    this.#closing.catch(noop);
    return this.#closing.then(() => this.closed);
  }

  destroy(err?: Error, tellPeer = true): void {
    if (this.#finished) return;
    const cause = err ?? new WireError('WIRE_ABORTED', 'session destroyed');
    this.#finish();
    this.#reject(cause);
    this.#doneReceived?.();
    for (const p of this.#pings.values()) p.reject(cause);
    this.#pings.clear();
    this.#sender?.abort(cause);
    this.#receiver?.abort();
    for (const ch of this.#channels.values()) ch.destroy(ch.claimed ? cause : undefined);
    const local = tellPeer && !(cause instanceof WireError && cause.code === 'WIRE_CONNECTION_LOST');
    if (local && this.#socket.writable) {
      this.#socket.pause(); // read nothing more from a peer we are refusing
      this.#socket.end(encodeFrame({ type: 'ERROR', channel: 0, code: errorCodeOf(cause), message: cause.message }));
      setTimeout(() => this.#socket.destroy(), 1000).unref();
    } else this.#socket.destroy();
  }

  /** The one cleanup path: timers, listeners, waiters. */
  #finish(): void {
    this.#finished = true;
    clearInterval(this.#pingTimer);
    this.#signal?.removeEventListener('abort', this.#onAbort);
    for (const [ev, fn] of this.#listeners) this.#socket.off(ev, fn as (...a: unknown[]) => void);
    this.#listeners = [];
    this.#socket.on('error', noop);
    this.#wakeDrain();
    this.#returnSessionCredit(0);
  }

  get doneSent(): boolean {
    return this.#doneSent;
  }
}
