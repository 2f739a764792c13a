// Failed console logins are rate-limited with a token bucket per client: the admin token is the
// only secret, and a bucket that is empty answers 429 before the token is even compared. Only
// failures take from a bucket, so an operator who types the token right is never slowed down.
// There is no bucket shared by everybody: one guesser would empty it and lock every operator
// out. A client is its IPv4 address, or its IPv6 /64 (one machine usually holds a whole /64).
// Guessing stays hopeless without a global limit: the token is 256 random bits.
import { clientKey } from '../client-key.js';
export interface BucketRate {
  /** Failures allowed in a burst. */
  burst: number;
  /** Failures forgiven per second. */
  perSec: number;
}

export const PER_ADDRESS: BucketRate = { burst: 5, perSec: 0.2 };
/** Addresses remembered at most; a full (forgiven) bucket is forgotten first. */
export const MAX_ADDRESSES = 1024;

export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly rate: BucketRate,
    now: number,
  ) {
    this.tokens = rate.burst;
    this.at = now;
  }

  level(now: number): number {
    this.tokens = Math.min(this.rate.burst, this.tokens + ((now - this.at) / 1000) * this.rate.perSec);
    this.at = now;
    return this.tokens;
  }

  take(now: number): void {
    this.tokens = Math.max(0, this.level(now) - 1);
  }

  /** Ms until one token is back (0 if there is one). */
  waitMs(now: number): number {
    const missing = 1 - this.level(now);
    return missing <= 0 ? 0 : Math.ceil((missing / this.rate.perSec) * 1000);
  }

  full(now: number): boolean {
    return this.level(now) >= this.rate.burst;
  }
}

export class LoginLimiter {
  private readonly byAddress = new Map<string, TokenBucket>();

  constructor(
    private readonly now: () => number = () => performance.now(),
    private readonly perAddress: BucketRate = PER_ADDRESS,
  ) {}

  /** Ms to wait before this client may try again; 0 when it may try now. */
  waitMs(address: string): number {
    return this.byAddress.get(clientKey(address))?.waitMs(this.now()) ?? 0;
  }

  failed(address: string): void {
    const now = this.now();
    address = clientKey(address);
    let b = this.byAddress.get(address);
    if (!b) {
      this.forget(now);
      b = new TokenBucket(this.perAddress, now);
      this.byAddress.set(address, b);
    }
    b.take(now);
  }

  /** Keeps the map under MAX_ADDRESSES: forgiven buckets go first, then the oldest. */
  private forget(now: number): void {
    if (this.byAddress.size < MAX_ADDRESSES) return;
    for (const [a, b] of this.byAddress) if (b.full(now)) this.byAddress.delete(a);
    while (this.byAddress.size >= MAX_ADDRESSES) this.byAddress.delete(this.byAddress.keys().next().value!);
  }
}
