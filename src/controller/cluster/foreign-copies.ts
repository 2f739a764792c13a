// Names agents may report that are not VMs of record: a DR test restores a copy under its own
// name (`web-drtest-1`) while production runs on, and heartbeats must neither adopt nor apply
// it. Held while its task runs, and for a while after: a heartbeat collected before the copy
// was deleted may arrive late.
import { ExpiringKeys } from './expiring-keys.js';
import { TOMBSTONE_MS } from './tombstones.js';

export class ForeignCopies {
  private readonly keys: ExpiringKeys;

  constructor(now?: () => number) {
    this.keys = new ExpiringKeys(now);
  }

  /** Holds `name` until `settled` settles, then for TOMBSTONE_MS more. */
  holdUntil(name: string, settled: Promise<unknown>): void {
    this.keys.hold(name, Infinity);
    void settled.finally(() => this.keys.holdFor(name, TOMBSTONE_MS)).catch(() => undefined);
  }

  isForeign(name: string): boolean {
    return this.keys.has(name);
  }
}
