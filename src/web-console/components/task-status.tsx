// A task's live progress and its outcome, by id: reads only that task's signal in the store
// (fed by `task` events). While it runs: a bar that never goes backwards and the current step;
// when it ends: "done" or the controller's error, announced to screen readers (aria-live).
import type { Task } from '../../contracts/controller-api.js';
import * as store from '../store.js';
import { Badge } from './badge.js';
import { Progress } from './progress.js';

export interface TaskStatusProps {
  id: string;
  /** What the task does, in words, e.g. "Start" — prefixes the message. */
  label?: string;
  /** Shown in place of "done" when the task succeeded. */
  done?: string;
}

export const taskEnded = (state: string): boolean => state === 'succeeded' || state === 'failed' || state === 'aborted';

/**
 * Puts the task a POST answered with into the store unless its events got there first (an
 * event may arrive before the HTTP answer, and is newer).
 */
export function remember(task: Task): Task {
  if (!store.tasks.get(task.id)) store.tasks.upsert(task.id, task);
  return task;
}

export function TaskStatus({ id, label, done }: TaskStatusProps) {
  const s = store.tasks.get(id);
  // Not there yet: subscribe to the list, so its arrival re-renders this.
  const t = s ? s.value : (store.tasks.names.value, undefined);
  const prefix = label ? `${label}: ` : '';
  if (!t) {
    return <div class="task-status" role="status" aria-live="polite"><span class="muted">{prefix}queued…</span></div>;
  }
  const ended = taskEnded(t.state);
  return (
    <div class={`task-status task-${t.state}`} role="status" aria-live="polite" data-testid={`task-${t.id}`}>
      {!ended && <Progress percent={t.progress} label={`${prefix}${t.kind} progress`} />}
      <span class="task-text">
        {prefix}
        {t.state === 'succeeded' ? (
          <span class="ok">{done ?? 'done'}</span>
        ) : t.state === 'failed' || t.state === 'aborted' ? (
          <>
            <Badge state={t.state} /> <span class="error">{t.error?.message ?? t.message}</span>
          </>
        ) : (
          <>
            {Math.round(t.progress)} % <span class="muted">{t.message}</span>
          </>
        )}
      </span>
    </div>
  );
}
