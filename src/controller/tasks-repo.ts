// SQL for the `tasks` table. The live task object (task.ts) is the authority while a task runs
// and writes every change here, so GET /tasks/:id reads one place whether or not it is running.
import type { Task, TaskState } from '../contracts/controller-api.js';
import type { Db } from './db.js';
import { storedFailure } from './errors.js';

interface Row {
  id: string;
  kind: string;
  target: string;
  state: string;
  progress: number;
  message: string;
  error: string | null;
  result: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

function fromRow(r: Row): Task {
  return {
    id: r.id,
    kind: r.kind,
    target: r.target,
    state: r.state as TaskState,
    progress: r.progress,
    message: r.message,
    ...(r.error !== null ? { error: storedFailure(JSON.parse(r.error) as { code: string; message: string }) } : {}),
    ...(r.result !== null ? { result: JSON.parse(r.result) as unknown } : {}),
    createdAt: r.created_at,
    ...(r.started_at !== null ? { startedAt: r.started_at } : {}),
    ...(r.finished_at !== null ? { finishedAt: r.finished_at } : {}),
  };
}

function toParams(t: Task): Record<string, unknown> {
  return {
    id: t.id,
    kind: t.kind,
    target: t.target,
    state: t.state,
    progress: t.progress,
    message: t.message,
    error: t.error ? JSON.stringify(t.error) : null,
    result: t.result === undefined ? null : JSON.stringify(t.result),
    createdAt: t.createdAt,
    startedAt: t.startedAt ?? null,
    finishedAt: t.finishedAt ?? null,
  };
}

export class TasksRepo {
  private readonly q;
  constructor(private readonly db: Db) {
    this.q = {
      insert: db.prepare(
        `INSERT INTO tasks (id, kind, target, state, progress, message, error, result, created_at, started_at, finished_at)
         VALUES (@id, @kind, @target, @state, @progress, @message, @error, @result, @createdAt, @startedAt, @finishedAt)`,
      ),
      update: db.prepare(
        `UPDATE tasks SET state = @state, progress = @progress, message = @message, error = @error, result = @result,
           started_at = @startedAt, finished_at = @finishedAt WHERE id = @id`,
      ),
      get: db.prepare<[string], Row>('SELECT * FROM tasks WHERE id = ?'),
      list: db.prepare<[number], Row>('SELECT * FROM tasks ORDER BY seq DESC LIMIT ?'),
      unfinished: db.prepare<[], Row>(`SELECT * FROM tasks WHERE state IN ('queued', 'running') ORDER BY seq`),
    };
  }

  insert(t: Task): void {
    this.q.insert.run(toParams(t));
  }

  update(t: Task): void {
    this.q.update.run(toParams(t));
  }

  get(id: string): Task | undefined {
    const row = this.q.get.get(id);
    return row ? fromRow(row) : undefined;
  }

  /** Newest first. */
  list(limit: number): Task[] {
    return this.q.list.all(limit).map(fromRow);
  }

  /**
   * Marks every task left queued or running by a previous controller process as failed: nothing
   * is driving it any more, and pretending otherwise would leave the CLI waiting forever.
   */
  failUnfinished(message: string, now = new Date().toISOString()): Task[] {
    return this.db.transaction(() => {
      const failed = this.q.unfinished.all().map((r) => {
        const t = fromRow(r);
        const done: Task = { ...t, state: 'failed', message, error: { code: 'INTERNAL', message }, finishedAt: now };
        this.update(done);
        return done;
      });
      return failed;
    })();
  }
}
