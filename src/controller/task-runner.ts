// Runs tasks in the background: creates the record, holds the per-target locks (one task per
// VM at a time), persists every change, publishes it on the bus, and turns the work's outcome
// into succeeded / failed / aborted. The work itself is a function of a TaskContext; the
// runner knows nothing about VMs.
import { randomUUID } from 'node:crypto';
import type { Task } from '../contracts/controller-api.js';
import { ConflictError, InvalidStateError, NotFoundError } from './errors.js';
import type { EventBus } from './events.js';
import { createLog } from './log.js';
import { LiveTask, type TaskContext } from './task.js';
import type { TasksRepo } from './tasks-repo.js';

const log = createLog('ferry:controller:tasks');

export const RESTART_MESSAGE = 'controller restarted (or the leader changed) while the task was running';

export interface SubmitOptions {
  kind: string;
  /** What the task acts on, e.g. `vm/web1`; also locked. */
  target: string;
  /** Further targets to hold while the task runs (e.g. a clone's new name). */
  alsoLocks?: string[];
  message?: string;
}

export type TaskWork = (ctx: TaskContext) => Promise<unknown>;

export class TaskRunner {
  private readonly live = new Map<string, { task: LiveTask; done: Promise<void> }>();
  private readonly locks = new Map<string, string>(); // target -> task id

  constructor(
    private readonly repo: TasksRepo,
    private readonly bus: EventBus,
  ) {}

  /** Call once at start-up, before accepting requests. */
  recoverInterrupted(): void {
    for (const t of this.repo.failUnfinished(RESTART_MESSAGE)) {
      log('task %s (%s %s) marked failed: %s', t.id, t.kind, t.target, RESTART_MESSAGE);
    }
  }

  /** The task currently holding `target`, if any. */
  busyWith(target: string): Task | undefined {
    const id = this.locks.get(target);
    return id ? this.live.get(id)?.task.snapshot : undefined;
  }

  /** Throws CONFLICT naming the running task if `target` is busy. */
  assertIdle(target: string): void {
    const busy = this.busyWith(target);
    if (busy) throw new ConflictError(`${target} is busy with task ${busy.id} (${busy.kind}, ${busy.state}); wait for it or abort it`);
  }

  /**
   * Creates the task and starts the work on a later turn of the event loop, so the caller can
   * answer 202 with the queued task first. Synchronous up to that point: checks done by the
   * caller just before cannot be invalidated by another request in between.
   */
  submit(opts: SubmitOptions, work: TaskWork): Task {
    const targets = [opts.target, ...(opts.alsoLocks ?? [])];
    for (const t of targets) this.assertIdle(t);
    const task = new LiveTask({ id: randomUUID(), kind: opts.kind, target: opts.target, ...(opts.message ? { message: opts.message } : {}) }, (t) =>
      this.persist(t),
    );
    this.repo.insert(task.snapshot);
    this.bus.publish({ type: 'task', task: task.snapshot });
    for (const t of targets) this.locks.set(t, task.snapshot.id);
    const done = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.execute(task, work))
      .finally(() => {
        for (const t of targets) if (this.locks.get(t) === task.snapshot.id) this.locks.delete(t);
        this.live.delete(task.snapshot.id);
      });
    this.live.set(task.snapshot.id, { task, done });
    return task.snapshot;
  }

  get(id: string): Task {
    const t = this.live.get(id)?.task.snapshot ?? this.repo.get(id);
    if (!t) throw new NotFoundError(`task ${id}`);
    return t;
  }

  list(limit: number): Task[] {
    return this.repo.list(limit);
  }

  runningCount(): number {
    return this.live.size;
  }

  /** Idempotent for a task already aborted; a task that succeeded or failed cannot be aborted. */
  abort(id: string, reason = 'aborted by user'): Task {
    const entry = this.live.get(id);
    if (entry) {
      entry.task.abort(reason);
      return entry.task.snapshot;
    }
    const t = this.get(id);
    if (t.state !== 'aborted') throw new InvalidStateError(`task ${id} already ${t.state}; nothing to abort`);
    return t;
  }

  /** Waits for one task to finish (tests and shutdown). */
  async settled(id: string): Promise<Task> {
    await this.live.get(id)?.done;
    return this.get(id);
  }

  /** Aborts every running task and waits for each to wind down. Idempotent. */
  async close(reason = 'controller shutting down'): Promise<void> {
    const entries = [...this.live.values()];
    for (const e of entries) e.task.abort(reason);
    await Promise.all(entries.map((e) => e.done));
  }

  private async execute(task: LiveTask, work: TaskWork): Promise<void> {
    if (task.finished) return; // aborted while queued
    task.markRunning();
    const { id, kind, target } = task.snapshot;
    log('task %s %s %s running', id, kind, target);
    try {
      task.signal.throwIfAborted();
      const result = await work(task);
      task.succeed(result);
    } catch (err) {
      task.fail(err);
    }
    const t = task.snapshot;
    log('task %s %s %s %s%s', id, kind, target, t.state, t.error ? `: ${t.error.code} ${t.error.message}` : '');
  }

  private persist(t: Task): void {
    this.repo.update(t);
    this.bus.publish({ type: 'task', task: t });
  }
}
