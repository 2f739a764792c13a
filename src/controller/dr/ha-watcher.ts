// The high availability loop: every tick it asks decideHa (ha.ts) about each protection and
// carries the verdict out — starts the unplanned failover through the DR service (so every check
// a failover by hand makes applies here too), says on the event stream (`dr.ha`) and in the log
// what it waits for or cannot do whenever that changes, and retries a failover that failed after
// a backoff that grows with each failure in a row.
import type { Task } from '../../contracts/controller-api.js';
import type { HaEvent } from '../../contracts/dr.js';
import type { ClusterState } from '../cluster-state.js';
import { errorSummary } from '../errors.js';
import type { EventBus } from '../events.js';
import { log } from './agent-io.js';
import { decideHa, type HaVerdict, type SentLease } from './ha.js';
import type { HostEvidence } from '../host-witness.js';
import type { Protections } from './protections.js';
import { TICK_MS } from './replicator.js';
import { backoffMs } from './scheduler.js';

export interface HaDeps {
  protections: Protections;
  state: ClusterState;
  bus: EventBus;
  /** The last heartbeat reply sent to the host (HostMonitor.lastLease). */
  lastLease(host: string): SentLease | undefined;
  /** What the other hosts' fence guards hear of the host (HostMonitor.evidence). */
  evidence(host: string): HostEvidence;
  /** The task holding the VM, in words; undefined if none. */
  busy(vm: string): string | undefined;
  /** Starts the unplanned failover, or throws what a failover by hand would be refused with. */
  failover(vm: string, reason: string): Task;
}

export interface HaOptions {
  leaseMs: number;
  marginMs: number;
  tickMs?: number;
  /** Monotonic ms, the clock of SentLease.at. */
  now?: () => number;
}

export class HaWatcher {
  /** VM -> what was last published about it, so each verdict is told once. */
  private readonly told = new Map<string, string>();
  private readonly failures = new Map<string, { count: number; retryAt: number }>();
  /** VMs whose failover this watcher started and that has not ended yet. */
  private readonly started = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly d: HaDeps,
    private readonly opts: HaOptions,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => this.tick(), this.opts.tickMs ?? TICK_MS);
    this.timer.unref();
  }

  /** Idempotent. A failover already started is the task runner's to finish or abort. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One pass of the loop. Public so tests can drive it. */
  tick(now = this.now()): void {
    const hostUp = (h: string) => this.d.state.hosts.get(h)?.state === 'up';
    for (const { protection: p } of this.d.protections.repo.list()) {
      const vm = this.d.state.vms.get(p.vm);
      if (!vm || this.started.has(p.vm)) continue;
      const lease = this.d.lastLease(vm.host);
      const busy = this.d.busy(p.vm);
      const retryAt = this.failures.get(p.vm)?.retryAt;
      const verdict = decideHa({
        vm: p.vm, uuid: vm.uuid, evidence: this.d.evidence(vm.host), ha: p.ha !== false, state: p.state, checkpoints: p.checkpoints, vmState: vm.state,
        host: vm.host, hostUp: hostUp(vm.host), targetHost: p.targetHost, targetUp: hostUp(p.targetHost),
        leaseMs: this.opts.leaseMs, marginMs: this.opts.marginMs, now,
        ...(lease ? { lease } : {}), ...(busy !== undefined ? { busy } : {}), ...(retryAt !== undefined ? { retryAt } : {}),
      });
      this.apply(p.vm, vm.host, verdict, now);
    }
  }

  private apply(vm: string, host: string, v: HaVerdict, now: number): void {
    switch (v.action) {
      case 'none':
        this.told.delete(vm);
        this.failures.delete(vm);
        return;
      case 'wait':
        return this.tell({ type: 'dr.ha', vm, host, action: 'waiting', reason: v.reason }, 'waiting');
      case 'blocked':
        return this.tell({ type: 'dr.ha', vm, host, action: 'blocked', reason: v.reason }, v.code);
      case 'failover':
        return this.failover(vm, host, v.reason, now);
    }
  }

  private failover(vm: string, host: string, reason: string, now: number): void {
    let task: Task;
    try {
      task = this.d.failover(vm, reason);
    } catch (err) {
      this.failed(vm, now);
      return this.tell({ type: 'dr.ha', vm, host, action: 'blocked', reason: `${reason}, but the failover was refused: ${errorSummary(err).message}` }, 'REFUSED');
    }
    this.tell({ type: 'dr.ha', vm, host, action: 'failover', reason, taskId: task.id }, task.id);
    this.started.add(vm);
    void this.d.state.runner
      .settled(task.id)
      .then(
        (t) => (t.state === 'succeeded' ? this.failures.delete(vm) : this.failed(vm, this.now())),
        () => this.failed(vm, this.now()),
      )
      .finally(() => this.started.delete(vm));
  }

  private failed(vm: string, now: number): void {
    const count = (this.failures.get(vm)?.count ?? 0) + 1;
    this.failures.set(vm, { count, retryAt: now + backoffMs(count) });
  }

  /** Publishes and logs the event unless the same kind of news about the VM was the last told. */
  private tell(e: HaEvent, key: string): void {
    const k = `${e.action}:${key}`;
    if (this.told.get(e.vm) === k) return;
    this.told.set(e.vm, k);
    log('HA %s %s: %s%s', e.action, e.vm, e.reason, e.taskId ? ` (task ${e.taskId})` : '');
    this.d.bus.publish(e);
  }

  private now(): number {
    return (this.opts.now ?? (() => performance.now()))();
  }
}
