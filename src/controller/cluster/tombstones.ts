// The uuids of VMs deleted through the controller, remembered for a while: a heartbeat that
// left its agent before the delete can arrive after it, and must not adopt the VM again.
import { ExpiringKeys } from './expiring-keys.js';

/** How long a deleted VM's uuid is remembered, so a late heartbeat does not re-adopt it. */
export const TOMBSTONE_MS = 60_000;

export class Tombstones {
  private readonly keys: ExpiringKeys;

  constructor(now?: () => number) {
    this.keys = new ExpiringKeys(now);
  }

  remember(uuid: string): void {
    this.keys.holdFor(uuid, TOMBSTONE_MS);
  }

  recentlyRemoved(uuid: string): boolean {
    return this.keys.has(uuid);
  }
}
