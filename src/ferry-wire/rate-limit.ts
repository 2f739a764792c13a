// Token bucket on bytes written to the socket. Writers ask how long to wait before their next
// frame (0 when tokens are available); a frame may take the bucket into debt, which the next
// writer waits out, so the long-run rate never exceeds the cap by more than one burst + one frame.
export class TokenBucket {
  readonly bytesPerSec: number;
  readonly burstBytes: number;
  #tokens = 0;
  #at: number;
  readonly #now: () => number;

  constructor(bytesPerSec: number, opts: { burstBytes?: number; now?: () => number } = {}) {
    if (!(bytesPerSec > 0)) throw new RangeError(`bandwidth must be positive, got ${bytesPerSec}`);
    this.bytesPerSec = bytesPerSec;
    this.burstBytes = opts.burstBytes ?? Math.max(16 * 1024, Math.floor(bytesPerSec / 20));
    this.#now = opts.now ?? (() => performance.now());
    this.#at = this.#now();
  }

  #refill(): void {
    const now = this.#now();
    this.#tokens = Math.min(this.burstBytes, this.#tokens + ((now - this.#at) * this.bytesPerSec) / 1000);
    this.#at = now;
  }

  /** Milliseconds until a writer may send (tokens ≥ 0). */
  delayMs(): number {
    this.#refill();
    return this.#tokens >= 0 ? 0 : Math.ceil((-this.#tokens * 1000) / this.bytesPerSec);
  }

  /** Records bytes written (control frames included); may go into debt. */
  consume(bytes: number): void {
    this.#refill();
    this.#tokens -= bytes;
  }

  /** A frame size that keeps bursts short under this cap. */
  frameBytes(max: number): number {
    return Math.max(4096, Math.min(max, Math.floor(this.bytesPerSec / 20)));
  }
}
