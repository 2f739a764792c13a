// The console's live events (contract: src/contracts/web-console.ts). `load`: every LOAD_EVENT_MS, while
// anyone listens to the event stream, the load of every host and VM in one message. `migration`:
// a running migration's record and progress, at most one a MIGRATION_EVENT_MS per migration (the
// latest report wins; a report held back is sent when its turn comes), then one final event when
// it ends.
import { LOAD_EVENT_MS, type LoadEvent, type MigrationLive } from '../../contracts/web-console.js';
import type { ClusterEvent } from '../../contracts/controller-api.js';
import type { HostLoad, VmLoad } from '../../contracts/metrics.js';
import type { MigrationRecord } from '../../contracts/migration.js';

export const MIGRATION_EVENT_MS = 1000;

type Publish = (event: ClusterEvent) => void;

export interface LoadSource {
  listeners(): number;
  hosts(): readonly string[];
  vms(): readonly string[];
  hostLoad(name: string): HostLoad | undefined;
  vmLoad(name: string): VmLoad | undefined;
}

export function loadEvent(src: LoadSource, at = Date.now()): LoadEvent {
  const hosts: Record<string, HostLoad> = {};
  const vms: Record<string, VmLoad> = {};
  for (const h of src.hosts()) {
    const l = src.hostLoad(h);
    if (l) hosts[h] = l;
  }
  for (const v of src.vms()) {
    const l = src.vmLoad(v);
    if (l) vms[v] = l;
  }
  return { type: 'load', at, hosts, vms };
}

export class LoadPublisher {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly src: LoadSource,
    private readonly publish: Publish,
    private readonly intervalMs = LOAD_EVENT_MS,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (this.src.listeners() > 0) this.publish(loadEvent(this.src));
    }, this.intervalMs);
    this.timer.unref();
  }

  /** Idempotent. */
  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

interface Pending {
  at: number;
  held?: { record: MigrationRecord; live: MigrationLive };
  timer?: NodeJS.Timeout;
}

export class MigrationEvents {
  private readonly byId = new Map<string, Pending>();

  constructor(
    private readonly publish: Publish,
    private readonly gapMs = MIGRATION_EVENT_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  live(record: MigrationRecord, live: MigrationLive): void {
    const p = this.byId.get(record.id) ?? { at: -Infinity };
    this.byId.set(record.id, p);
    p.held = { record, live };
    const wait = p.at + this.gapMs - this.now();
    if (wait <= 0) this.flush(p);
    else p.timer ??= setTimeout(() => this.flush(p), wait).unref();
  }

  ended(record: MigrationRecord): void {
    clearTimeout(this.byId.get(record.id)?.timer);
    this.byId.delete(record.id);
    this.publish({ type: 'migration', record });
  }

  /** Drops what is held back (the controller is closing). Idempotent. */
  close(): void {
    for (const p of this.byId.values()) clearTimeout(p.timer);
    this.byId.clear();
  }

  private flush(p: Pending): void {
    clearTimeout(p.timer);
    p.timer = undefined;
    if (!p.held) return;
    p.at = this.now();
    this.publish({ type: 'migration', ...p.held });
    p.held = undefined;
  }
}
