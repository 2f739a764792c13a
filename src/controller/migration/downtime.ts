// Observed downtime: the guest's own heartbeat (`ferry-heartbeat seq=N …`, one line a second)
// seen from outside. We poll the VM's console on both hosts around the switch and note, on the
// controller's clock, when each seq value was first seen. A pause of D ms stretches one
// interval to about 1 s + D, so the observed downtime is the largest stretch beyond the
// nominal period. Precision is the polling period plus one console round trip. With no seq
// seen on both hosts (no demo guest, console unreachable) there is no number: never invent one.
import { setTimeout as sleep } from 'node:timers/promises';
import { parseHeartbeats } from '../../contracts/heartbeat.js';

export const HEARTBEAT_PERIOD_MS = 1000;
export const POLL_MS = 100;

export type Side = 'source' | 'target';

/** Pure accumulator of first sightings. */
export class HeartbeatSightings {
  private readonly first = new Map<number, { at: number; side: Side }>();

  see(text: string, side: Side, at: number): void {
    for (const { seq } of parseHeartbeats(text)) {
      if (!this.first.has(seq)) this.first.set(seq, { at, side });
    }
  }

  maxSeq(side: Side): number | undefined {
    let max: number | undefined;
    for (const [seq, s] of this.first) if (s.side === side && (max === undefined || seq > max)) max = seq;
    return max;
  }

  /** Largest stretch beyond the heartbeat period, or undefined unless both hosts were seen. */
  observedDowntimeMs(): number | undefined {
    const src = this.maxSeq('source');
    const tgt = this.maxSeq('target');
    if (src === undefined || tgt === undefined || tgt <= src) return undefined;
    const seqs = [...this.first.keys()].sort((a, b) => a - b);
    let worst = 0;
    for (let i = 1; i < seqs.length; i++) {
      const a = seqs[i - 1]!;
      const b = seqs[i]!;
      const stretch = this.first.get(b)!.at - this.first.get(a)!.at - (b - a) * HEARTBEAT_PERIOD_MS;
      worst = Math.max(worst, stretch);
    }
    return Math.round(worst);
  }
}

export type ConsoleReader = (side: Side) => Promise<string>;

/** Polls both consoles until stopped. `stop` waits (briefly) for the target's first new beat. */
export class DowntimeWatcher {
  readonly sightings = new HeartbeatSightings();
  private readonly ac = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(
    private readonly read: ConsoleReader,
    private readonly now: () => number = () => performance.now(),
  ) {}

  start(): void {
    this.loop ??= this.run();
  }

  async stop(waitForTargetMs = 3000): Promise<number | undefined> {
    const deadline = this.now() + waitForTargetMs;
    while (this.loop && this.now() < deadline) {
      const src = this.sightings.maxSeq('source');
      const tgt = this.sightings.maxSeq('target');
      if (src === undefined || (tgt !== undefined && tgt > src)) break;
      await sleep(POLL_MS);
    }
    this.ac.abort();
    await this.loop;
    return this.sightings.observedDowntimeMs();
  }

  private async run(): Promise<void> {
    while (!this.ac.signal.aborted) {
      await Promise.all(
        (['source', 'target'] as const).map(async (side) => {
          // A read may throw synchronously (host marked down): never let it end the loop.
          const text = await Promise.resolve()
            .then(() => this.read(side))
            .catch(() => '');
          this.sightings.see(text, side, this.now());
        }),
      );
      await sleep(POLL_MS, undefined, { signal: this.ac.signal }).catch(() => undefined);
    }
  }
}
