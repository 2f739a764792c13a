// Where a new client connection of a service endpoint goes — a pure decision from what the
// controller knows now — and the bounded queue that holds connections while no copy is safe.
// The rule (docs/endpoints.md): connect only to the VM of record, running on host H, through a
// forward that H reported for this VM after it became H's; while a move switches over, hold.
import type { Endpoint } from '../../contracts/vm-spec.js';

export interface RouteView {
  /** The VM record; undefined: the VM is gone. */
  vm: { state: string; host: string; endpoints: readonly Endpoint[] } | undefined;
  /** The host whose report the record's endpoints come from (registry); undefined: not confirmed since the last move. */
  confirmedHost: string | undefined;
  /** A migration, failover or failback of this VM is switching over. */
  switching: boolean;
  guestPort: number;
}

export type Route =
  | { kind: 'connect'; host: string; port: number }
  | { kind: 'hold'; why: string }
  | { kind: 'refuse'; why: string };

export function route(v: RouteView): Route {
  if (!v.vm) return { kind: 'refuse', why: 'the VM is gone' };
  if (v.switching) return { kind: 'hold', why: 'the VM is switching over to its new location' };
  if (v.vm.state !== 'running') return { kind: 'hold', why: `the VM is ${v.vm.state}` };
  if (v.confirmedHost !== v.vm.host) return { kind: 'hold', why: `waiting for ${v.vm.host} to report the VM's forwards` };
  const fwd = v.vm.endpoints.find((e) => e.guestPort === v.guestPort);
  if (!fwd) return { kind: 'hold', why: `${v.vm.host} forwards no guest port ${v.guestPort} yet` };
  return { kind: 'connect', host: fwd.host, port: fwd.port };
}

/**
 * Connections waiting for a usable location: at most `max`, each for at most `timeoutMs`
 * (then `expire` is called with it). `drain` hands back every waiting item, oldest first.
 */
export class HoldQueue<T> {
  private readonly items = new Map<T, NodeJS.Timeout>();

  constructor(
    private readonly max: number,
    private readonly timeoutMs: number,
    private readonly expire: (item: T) => void,
  ) {}

  get size(): number {
    return this.items.size;
  }

  /** false: full (the caller refuses the connection). */
  hold(item: T, timeoutMs = this.timeoutMs): boolean {
    if (this.items.has(item)) return true;
    if (this.items.size >= this.max) return false;
    const timer = setTimeout(() => {
      this.items.delete(item);
      this.expire(item);
    }, Math.max(0, timeoutMs));
    timer.unref();
    this.items.set(item, timer);
    return true;
  }

  /** Forgets an item (its connection closed while held). */
  drop(item: T): void {
    const t = this.items.get(item);
    if (t === undefined) return;
    clearTimeout(t);
    this.items.delete(item);
  }

  drain(): T[] {
    const out = [...this.items.keys()];
    for (const t of this.items.values()) clearTimeout(t);
    this.items.clear();
    return out;
  }
}
