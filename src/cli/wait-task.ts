// Waiting for a task: poll GET /tasks/:id every 250 ms (simpler and sturdier than the event
// stream), show a live progress line on a TTY, and turn a failed task into its FerryError.
// Ctrl-C stops waiting — not the task — and says how to abort it.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Task } from '../contracts/controller-api.js';
import { FerryError, isErrorCode } from '../contracts/errors.js';
import type { ApiClient } from '../contracts/http-client.js';
import { note } from './output.js';

export const POLL_MS = 250;
const UNREACHABLE_GRACE_MS = 15_000;

export function isFinished(task: Task): boolean {
  return task.state === 'succeeded' || task.state === 'failed' || task.state === 'aborted';
}

/** Pure: the error a finished, unsuccessful task stands for. */
export function taskError(task: Task): FerryError {
  if (task.state === 'aborted') return new FerryError('ABORTED', task.error?.message ?? `task ${task.id} was aborted`);
  const code = task.error && isErrorCode(task.error.code) ? task.error.code : 'INTERNAL';
  return new FerryError(code, task.error?.message ?? `task ${task.id} (${task.kind}) failed`);
}

export function progressLine(task: Task): string {
  return `${task.kind} ${task.target}: ${task.state} ${Math.floor(task.progress)}%${task.message ? ` ${task.message}` : ''}`;
}

/**
 * Wait until `task` is finished and return its final record (failed ones too). `render` draws
 * the live line on a TTY; the progress it is shown never goes back, whatever a poll returns.
 */
export async function waitTask(api: ApiClient, task: Task, render: (t: Task) => string = progressLine): Promise<Task> {
  const tty = process.stderr.isTTY === true;
  let current = task;
  let shown = 0;
  const onSigint = (): void => {
    if (tty) process.stderr.write('\n');
    note(`ferry: stopped waiting; task ${current.id} goes on (see: ferry task show ${current.id}; abort: ferry task abort ${current.id})`);
    process.exit(130);
  };
  process.on('SIGINT', onSigint);
  try {
    while (!isFinished(current)) {
      shown = Math.max(shown, current.progress);
      if (tty) process.stderr.write(`\r\x1b[K${render({ ...current, progress: shown }).slice(0, Math.max(20, (process.stderr.columns ?? 120) - 1))}`);
      await sleep(POLL_MS);
      current = await poll(api, current);
    }
    return current;
  } finally {
    process.off('SIGINT', onSigint);
    if (tty) process.stderr.write('\r\x1b[K');
  }
}

/** One poll; a controller that is briefly unreachable (restarting, busy) gets a few more tries. */
async function poll(api: ApiClient, task: Task): Promise<Task> {
  const deadline = Date.now() + UNREACHABLE_GRACE_MS;
  for (;;) {
    try {
      return await api.get<Task>(`/api/v1/tasks/${encodeURIComponent(task.id)}`);
    } catch (err) {
      const transient = err instanceof FerryError && (err.code === 'HOST_DOWN' || err.code === 'TIMEOUT');
      if (!transient || Date.now() > deadline) throw err;
      await sleep(1000);
    }
  }
}

/** Wait and throw the task's error if it did not succeed. */
export async function waitTaskOk(api: ApiClient, task: Task): Promise<Task> {
  const done = await waitTask(api, task);
  if (done.state !== 'succeeded') throw taskError(done);
  return done;
}
