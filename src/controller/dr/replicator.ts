// The replication loop: every tick it asks the scheduler (scheduler.ts) about each protection,
// writes down the verdict (state, alarm), and starts the checkpoints that are due — one per VM
// at a time, at most `concurrency` in the whole cluster, the most urgent first. A failed
// checkpoint is retried after a backoff that grows with each failure in a row. Deadlines run on
// the monotonic clock (anchors.ts): a step of the wall clock neither delays nor rushes them.
import type { Vm } from '../../contracts/controller-api.js';
import type { CheckpointRecord } from '../../contracts/dr.js';
import type { ClusterState } from '../cluster-state.js';
import { errorSummary } from '../errors.js';
import { createLog } from '../log.js';
import { MonotonicAnchors } from './anchors.js';
import type { Protections } from './protections.js';
import type { ProtectionRow } from './repo.js';
import { backoffMs, blockedBy, decide } from './scheduler.js';

const log = createLog('ferry:controller:dr');

export const TICK_MS = 500;
export const DEFAULT_CONCURRENCY = 4;
/** Recent checkpoints the scheduler looks at. */
const RECENT = 3;

export type RunCheckpoint = (row: ProtectionRow, vm: Vm, signal: AbortSignal) => Promise<CheckpointRecord>;

interface Job {
  ac: AbortController;
  done: Promise<void>;
}

export class Replicator {
  private readonly jobs = new Map<string, Job>();
  private readonly failures = new Map<string, { count: number; retryAt: number }>();
  private readonly lastStart = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private readonly anchors: MonotonicAnchors;
  /** The monotonic clock every deadline here is on (`opts.now` in tests drives both clocks). */
  private readonly mono: () => number;

  constructor(
    private readonly protections: Protections,
    private readonly state: ClusterState,
    private readonly run: RunCheckpoint,
    /** `now`: the monotonic clock (tests); `wall`: the wall clock (tests; `now` too if absent). */
    private readonly opts: { tickMs?: number; concurrency?: number; now?: () => number; wall?: () => number } = {},
  ) {
    this.mono = opts.now ?? (() => performance.now());
    this.anchors = new MonotonicAnchors(opts.wall ?? opts.now ?? Date.now, this.mono);
  }

  start(): void {
    this.timer ??= setInterval(() => this.tick(), this.opts.tickMs ?? TICK_MS);
    this.timer.unref();
  }

  /** One pass of the loop. Public so tests can drive it. */
  tick(now = this.mono()): void {
    const due: { row: ProtectionRow; vm: Vm; dueAt: number }[] = [];
    for (const row of this.protections.repo.list()) {
      const p = row.protection;
      if (p.state === 'failed-over') continue;
      const vm = this.state.vms.get(p.vm);
      const target = this.state.hosts.get(p.targetHost);
      const blocked = blockedBy({
        vm: p.vm,
        ...(vm ? { record: vm } : {}),
        hostUp: (h) => this.state.hosts.get(h)?.state === 'up',
        targetHost: p.targetHost,
        ...(target?.info.dataUrl ? { targetDataUrl: target.info.dataUrl } : {}),
      });
      const failed = this.failures.get(p.vm);
      const newestWall = p.lastCheckpoint ? Date.parse(p.lastCheckpoint.takenAt) : NaN;
      const d = decide({
        rpoMs: p.rpoMs,
        ...(Number.isFinite(newestWall) ? { newestTakenAt: this.anchors.at(`${p.vm}\0newest`, newestWall) } : {}),
        syncingSince: this.anchors.at(`${p.vm}\0syncing`, Date.parse(row.meta.syncingSince)),
        recent: this.protections.repo.checkpoints(p.vm, RECENT),
        now,
        running: this.jobs.has(p.vm) || this.state.isBusy(p.vm),
        ...(blocked !== undefined ? { blocked } : {}),
        ...(failed ? { retryAt: failed.retryAt } : {}),
        ...(this.lastStart.has(p.vm) ? { lastStartAt: this.lastStart.get(p.vm)! } : {}),
        ...(p.lastError ? { lastError: p.lastError.message } : {}),
      });
      this.protections.schedule(p.vm, d.state, d.alarm);
      if (d.startNow && vm) due.push({ row, vm, dueAt: d.dueAt });
    }
    due.sort((a, b) => a.dueAt - b.dueAt);
    const free = (this.opts.concurrency ?? DEFAULT_CONCURRENCY) - this.jobs.size;
    for (const j of due.slice(0, Math.max(0, free))) this.launch(j.row, j.vm, now);
  }

  private launch(row: ProtectionRow, vm: Vm, now: number): void {
    const name = vm.name;
    const ac = new AbortController();
    this.lastStart.set(name, now);
    const done = this.run(row, vm, ac.signal).then(
      () => void this.failures.delete(name),
      (err: unknown) => {
        if (ac.signal.aborted) return; // stopped on purpose (unprotect, failover, shutdown)
        const count = (this.failures.get(name)?.count ?? 0) + 1;
        const wait = backoffMs(count);
        this.failures.set(name, { count, retryAt: this.mono() + wait });
        const error = errorSummary(err);
        log('checkpoint of %s failed (%d in a row, next try in %d ms): %s %s', name, count, wait, error.code, error.message);
        this.protections.failed(name, error);
      },
    );
    const job: Job = { ac, done: done.finally(() => this.jobs.get(name) === job && this.jobs.delete(name)) };
    this.jobs.set(name, job);
  }

  isRunning(vm: string): boolean {
    return this.jobs.has(vm);
  }

  /** Stops the VM's checkpoint, if one runs, and waits for it to wind down (at most `limitMs`). */
  async quiesce(vm: string, reason: string, limitMs = 10_000): Promise<void> {
    const job = this.jobs.get(vm);
    if (!job) return;
    job.ac.abort(new Error(reason));
    await Promise.race([job.done, new Promise((r) => setTimeout(r, limitMs).unref())]);
  }

  /** Forgets a VM's backoff and schedule (after unprotect). */
  forget(vm: string): void {
    this.failures.delete(vm);
    this.lastStart.delete(vm);
    this.anchors.forget(`${vm}\0`);
  }

  /** Stops the loop, aborts every checkpoint and waits for them. Idempotent. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    const jobs = [...this.jobs.values()];
    for (const j of jobs) j.ac.abort(new Error('controller shutting down'));
    await Promise.all(jobs.map((j) => j.done));
  }
}
