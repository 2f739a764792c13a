// Carries out a plan's moves as ordinary migration tasks (each with its own pre-check, target
// reservation and clean abort, src/controller/migration/). The plan lists moves in an order
// that can be carried out (planner.ts), so a move starts only when every earlier move that
// shares a host with it has finished; moves on disjoint hosts run side by side, at most
// `maxConcurrent` at once. The first failure stops new starts: what runs finishes, and the
// caller re-plans from the cluster as it now is.
import type { BalanceMove } from '../../contracts/balance.js';
import type { Task } from '../../contracts/controller-api.js';
import type { MigrationRecord } from '../../contracts/migration.js';

export interface ExecutorIo {
  /** Starts the migration task (rejects when the migration service refuses it at once). */
  migrate(move: BalanceMove): Promise<Task>;
  settled(taskId: string): Promise<Task>;
  abortTask(taskId: string, reason: string): void;
  started(move: BalanceMove, task: Task): void;
  finished(move: BalanceMove, task: Task, record: MigrationRecord | undefined): void;
  failed(move: BalanceMove, why: string, task?: Task): void;
}

export interface ExecutionResult {
  done: BalanceMove[];
  failed?: { move: BalanceMove; why: string };
  /** Moves not started because an earlier one failed or the run was aborted. */
  skipped: BalanceMove[];
}

const hostsOf = (m: BalanceMove): string[] => [m.from, m.to];
const shares = (a: BalanceMove, b: BalanceMove): boolean => hostsOf(a).some((h) => hostsOf(b).includes(h));

export async function execute(moves: readonly BalanceMove[], io: ExecutorIo, maxConcurrent: number, signal: AbortSignal): Promise<ExecutionResult> {
  const pending = [...moves];
  const running = new Map<BalanceMove, { task: Task; done: Promise<void> }>();
  const result: ExecutionResult = { done: [], skipped: [] };
  const stop = (): boolean => signal.aborted || result.failed !== undefined;

  const onAbort = (): void => {
    for (const r of running.values()) io.abortTask(r.task.id, 'balance run aborted');
  };
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    while (pending.length > 0 || running.size > 0) {
      // Start every move that may go now: in list order, no earlier unfinished move on its hosts.
      for (let i = 0; !stop() && i < pending.length && running.size < maxConcurrent; ) {
        const m = pending[i]!;
        const blocked = pending.slice(0, i).some((e) => shares(e, m)) || [...running.keys()].some((r) => shares(r, m));
        if (blocked) {
          i++;
          continue;
        }
        pending.splice(i, 1);
        let task: Task;
        try {
          task = await io.migrate(m);
        } catch (err) {
          result.failed = { move: m, why: (err as Error).message };
          io.failed(m, result.failed.why);
          break;
        }
        io.started(m, task);
        running.set(m, { task, done: follow(m, task) });
      }
      if (running.size === 0) break;
      await Promise.race([...running.values()].map((r) => r.done));
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  result.skipped.push(...pending);
  return result;

  async function follow(m: BalanceMove, task: Task): Promise<void> {
    const end = await io.settled(task.id);
    running.delete(m);
    const record = end.result as MigrationRecord | undefined;
    if (end.state === 'succeeded' && record?.outcome === 'succeeded') {
      result.done.push(m);
      io.finished(m, end, record);
      return;
    }
    const why = end.error?.message ?? record?.error?.message ?? `migration task ended ${end.state}`;
    result.failed ??= { move: m, why };
    io.failed(m, why, end);
  }
}
