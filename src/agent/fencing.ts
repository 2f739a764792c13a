// Self-fencing (high availability): the controller's heartbeat replies carry a lease naming the
// VMs it may restart elsewhere should this host go silent (HeartbeatReply.fence). Each reply
// renews it. If no reply comes for `leaseMs` — the host is cut off from the controller, which
// will soon declare it failed — the agent kills those VMs' QEMU itself, before the controller
// may start them anywhere else (it waits longer than the lease), so a VM never runs twice.
// Time is measured on this process's monotonic clock from the moment a reply arrived. The lease
// is also kept in <dataDir>/fence.json, so an agent restarted while cut off still fences on time
// (QEMU outlives its agent).
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { HeartbeatReply } from '../contracts/index.js';
import { terminate } from './actions.js';
import { log } from './log.js';
import type { VmManager } from './manager.js';
import { writeJsonAtomic } from './vm-dir.js';

const CHECK_EVERY_MS = 200;

export class Fence {
  #lease: Fence['lease'];
  readonly #timer: NodeJS.Timeout;
  /** VMs this agent fenced, and when (for status and tests). */
  readonly fenced: { vm: string; at: string }[] = [];

  readonly #file: string;

  constructor(private readonly mgr: VmManager, dataDir: string, private readonly now: () => number = () => performance.now()) {
    this.#file = join(dataDir, 'fence.json');
    this.#lease = this.#load();
    this.#timer = setInterval(() => void this.check(), CHECK_EVERY_MS);
    this.#timer.unref();
  }

  /** A lease an earlier agent process held: it runs out when it would have for that process. */
  #load(): Fence['lease'] {
    try {
      const f = JSON.parse(readFileSync(this.#file, 'utf8')) as { leaseMs: number; vms: string[]; renewedAtEpochMs: number };
      if (!Array.isArray(f.vms) || typeof f.leaseMs !== 'number' || typeof f.renewedAtEpochMs !== 'number') return undefined;
      return { leaseMs: f.leaseMs, vms: f.vms, renewedAt: this.now() - Math.max(0, Date.now() - f.renewedAtEpochMs) };
    } catch {
      return undefined;
    }
  }

  get lease(): { leaseMs: number; vms: string[]; renewedAt: number } | undefined {
    return this.#lease;
  }

  /** A heartbeat reply arrived: renew (or drop) the lease. */
  renew(fence: HeartbeatReply['fence']): void {
    this.#lease = fence && fence.vms.length > 0 ? { ...fence, renewedAt: this.now() } : undefined;
    if (this.#lease) writeJsonAtomic(this.#file, { leaseMs: this.#lease.leaseMs, vms: this.#lease.vms, renewedAtEpochMs: Date.now() });
    else rmSync(this.#file, { force: true });
  }

  /** Kills the leased VMs once the lease has run out; the lease is then gone. */
  async check(): Promise<void> {
    const lease = this.#lease;
    if (!lease || this.now() - lease.renewedAt < lease.leaseMs) return;
    this.#lease = undefined;
    rmSync(this.#file, { force: true });
    for (const name of lease.vms) {
      const vm = this.mgr.vms.get(name);
      if (!vm || vm.rec.pid === undefined) continue;
      log('fencing: no word from the controller for %d ms: stopping vm %s so it cannot run twice', Math.round(this.now() - lease.renewedAt), name);
      await terminate(vm, 0).catch((err: Error) => log('fencing vm %s: %s', name, err.message));
      vm.setState('stopped', `fenced: this host lost contact with the controller for more than ${lease.leaseMs} ms`);
      this.fenced.push({ vm: name, at: new Date().toISOString() });
    }
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
