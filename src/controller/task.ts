// One running task: the object that enforces what the Task contract promises — progress only
// moves forward and stays in 0..100, a finished task never changes again, and abort reaches
// the running step through an AbortSignal. It does no I/O; every change goes to `onChange`.
import { FerryError } from '../contracts/errors.js';
import type { Task } from '../contracts/controller-api.js';
import { errorSummary } from './errors.js';

export interface TaskContext {
  readonly signal: AbortSignal;
  /** Moves progress forward (never back) and, optionally, says what is happening now. */
  progress(pct: number, message?: string): void;
}

export class LiveTask implements TaskContext {
  private data: Task;
  private readonly ac = new AbortController();

  constructor(
    init: { id: string; kind: string; target: string; message?: string },
    private readonly onChange: (t: Task) => void = () => {},
    private readonly now: () => string = () => new Date().toISOString(),
  ) {
    this.data = { ...init, state: 'queued', progress: 0, message: init.message ?? 'queued', createdAt: this.now() };
  }

  get snapshot(): Task {
    return { ...this.data };
  }
  get signal(): AbortSignal {
    return this.ac.signal;
  }
  get finished(): boolean {
    return this.data.state === 'succeeded' || this.data.state === 'failed' || this.data.state === 'aborted';
  }

  markRunning(message = 'running'): void {
    if (this.data.state !== 'queued') return;
    this.change({ state: 'running', startedAt: this.now(), message });
  }

  progress(pct: number, message?: string): void {
    if (this.finished) return;
    const p = Math.min(100, Math.max(this.data.progress, Number.isFinite(pct) ? pct : 0));
    if (p === this.data.progress && (message === undefined || message === this.data.message)) return;
    this.change({ progress: p, ...(message !== undefined ? { message } : {}) });
  }

  succeed(result?: unknown, message = 'done'): void {
    if (this.finished) return;
    this.change({ state: 'succeeded', progress: 100, message, finishedAt: this.now(), ...(result !== undefined ? { result } : {}) });
  }

  /**
   * Records the failure with the cause's own code and words. A failure after an abort is
   * recorded as `aborted` with the abort's reason: the step most likely failed *because* of it.
   */
  fail(err: unknown, message?: string): void {
    if (this.finished) return;
    if (this.ac.signal.aborted) {
      const reason = errorSummary(this.ac.signal.reason);
      this.change({ state: 'aborted', message: reason.message, error: reason, finishedAt: this.now() });
      return;
    }
    const error = errorSummary(err);
    this.change({ state: 'failed', message: message ?? `failed: ${error.message}`, error, finishedAt: this.now() });
  }

  /** Asks the running step to stop. Returns false if the task had already finished. */
  abort(reason = 'aborted by user'): boolean {
    if (this.finished) return false;
    if (!this.ac.signal.aborted) this.ac.abort(new FerryError('ABORTED', reason));
    // A task still queued never ran a step, so it ends here; a running one ends when its step
    // notices the signal (fail() then records it as aborted).
    if (this.data.state === 'queued') this.fail(this.ac.signal.reason);
    return true;
  }

  private change(patch: Partial<Task>): void {
    this.data = { ...this.data, ...patch };
    this.onChange(this.snapshot);
  }
}
