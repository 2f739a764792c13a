// One multiplexed channel as a Duplex. Flow control is per channel and per direction (like
// HTTP/2): a writer may have at most INITIAL_WINDOW bytes unacknowledged; the reader returns
// credit (WINDOW frames) only as its consumer drains the readable side. So a slow consumer
// stalls just its sender, buffers stay bounded (≤ high-water mark + window), and the socket
// keeps being read — heartbeats still flow.
import { Duplex } from 'node:stream';
import { CHANNEL_HIGH_WATER_MARK, INITIAL_WINDOW, WINDOW_UPDATE_THRESHOLD } from './constants.js';
import { WireError } from './errors.js';

/** What a channel needs from its session. */
export interface ChannelIo {
  writeChannel(ch: Channel, data: Buffer): Promise<void>;
  endChannel(ch: Channel): Promise<void>;
  grantWindow(ch: Channel, bytes: number): void;
}

export class Channel extends Duplex {
  readonly n: number;
  /** Set once the caller asked for this channel (errors are only emitted on claimed channels). */
  claimed = false;
  #io: ChannelIo;
  #credit = INITIAL_WINDOW;
  #creditWaiter: (() => void) | undefined;
  /** Bytes the peer may still send before we grant more. */
  #allowance = INITIAL_WINDOW;
  /** Bytes delivered but not yet granted back. */
  #held = 0;
  #readPaused = false;
  #remoteEnded = false;

  constructor(n: number, io: ChannelIo) {
    super({ allowHalfOpen: true, readableHighWaterMark: CHANNEL_HIGH_WATER_MARK, writableHighWaterMark: CHANNEL_HIGH_WATER_MARK });
    this.n = n;
    this.#io = io;
    // Everything read: return the last credit too, so the peer's session window does not shrink for good.
    this.once('end', () => this.#grantRest());
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#io.writeChannel(this, chunk).then(() => cb(), cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.#io.endChannel(this).then(() => cb(), cb);
  }

  override _read(): void {
    this.#readPaused = false;
    this.#maybeGrant();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.#wake();
    cb(err);
  }

  /** Waits for send credit; returns how many bytes (≤ max) the caller may now send. */
  async takeCredit(max: number): Promise<number> {
    while (this.#credit === 0) {
      if (this.destroyed) throw new WireError('WIRE_ABORTED', `channel ${this.n} destroyed`);
      await new Promise<void>((resolve) => (this.#creditWaiter = resolve));
    }
    if (this.destroyed) throw new WireError('WIRE_ABORTED', `channel ${this.n} destroyed`);
    const n = Math.min(this.#credit, max);
    this.#credit -= n;
    return n;
  }

  /** Gives back credit taken but not used (the session window allowed less). */
  refund(n: number): void {
    this.#credit += n;
    this.#wake();
  }

  addCredit(n: number): void {
    this.#credit += n;
    if (this.#credit > 2 ** 32) throw new WireError('WIRE_PROTOCOL', `channel ${this.n}: window overflow`);
    this.#wake();
  }

  #wake(): void {
    const w = this.#creditWaiter;
    this.#creditWaiter = undefined;
    w?.();
  }

  /** Counts bytes the peer sends against what we allowed; a peer that overruns is broken. */
  accountIncoming(n: number): void {
    this.#allowance -= n;
    if (this.#allowance < 0) throw new WireError('WIRE_PROTOCOL', `channel ${this.n}: peer overran its window`);
    if (this.#remoteEnded) throw new WireError('WIRE_PROTOCOL', `channel ${this.n}: data after CLOSE`);
  }

  /** Hands the peer's bytes to our reader; false when nobody will read them (dropped). */
  deliver(data: Buffer): boolean {
    if (this.destroyed || this.readableEnded) return false;
    this.#held += data.length;
    if (!this.push(data)) this.#readPaused = true;
    this.#maybeGrant();
    return true;
  }

  remoteEnd(): void {
    if (this.#remoteEnded) return;
    this.#remoteEnded = true;
    if (!this.destroyed) this.push(null);
  }

  get remoteEnded(): boolean {
    return this.#remoteEnded;
  }

  #grantRest(): void {
    if (this.#held === 0 || this.destroyed) return;
    const n = this.#held;
    this.#held = 0;
    this.#allowance += n;
    this.#io.grantWindow(this, n);
  }

  #maybeGrant(): void {
    if (this.#readPaused || this.#held < WINDOW_UPDATE_THRESHOLD || this.destroyed) return;
    const n = this.#held;
    this.#held = 0;
    this.#allowance += n;
    this.#io.grantWindow(this, n);
  }
}
