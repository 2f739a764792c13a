// Keys held until a time on the monotonic clock: a key whose time has passed is forgotten the
// next time it is asked about. Tombstones and foreign copies are both kept this way.
export class ExpiringKeys {
  private readonly until = new Map<string, number>();

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Holds `key` until `untilMs` (monotonic ms; Infinity: until held again with a time). */
  hold(key: string, untilMs: number): void {
    this.until.set(key, untilMs);
  }

  /** Holds `key` for `ms` from now. */
  holdFor(key: string, ms: number): void {
    this.until.set(key, this.now() + ms);
  }

  has(key: string): boolean {
    const t = this.until.get(key);
    if (t === undefined) return false;
    if (t > this.now()) return true;
    this.until.delete(key);
    return false;
  }
}
