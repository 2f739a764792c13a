// Wall-clock instants (a checkpoint's takenAt, when syncing began) read once into the monotonic
// clock. The schedule then runs on the monotonic clock only, so a step of the wall clock moves no
// deadline: stepped back an hour, the newest checkpoint would otherwise look an hour younger and
// the next one would wait an hour; stepped forward, every VM would look behind at once.
// An instant first seen after a step (a restart, a new leader) is taken as no later than now.

export class MonotonicAnchors {
  private readonly byKey = new Map<string, { wallMs: number; mono: number }>();

  constructor(
    private readonly wall: () => number = Date.now,
    private readonly mono: () => number = () => performance.now(),
  ) {}

  /** `wallMs` on the monotonic clock, fixed the first time it is asked for under `key`. */
  at(key: string, wallMs: number): number {
    const seen = this.byKey.get(key);
    if (seen && seen.wallMs === wallMs) return seen.mono;
    const mono = this.mono() - Math.max(0, this.wall() - wallMs);
    this.byKey.set(key, { wallMs, mono });
    return mono;
  }

  /** Forgets every key that starts with `prefix` (a protection removed). */
  forget(prefix: string): void {
    for (const k of this.byKey.keys()) if (k.startsWith(prefix)) this.byKey.delete(k);
  }
}
