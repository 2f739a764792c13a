// `ferry task list|show|abort`.
import type { Command } from 'commander';
import type { Task } from '../../contracts/controller-api.js';
import { connect } from '../config.js';
import { formatFields, printJson, printTable, setErrorContext } from '../output.js';
import { parsePositiveInt } from '../parse.js';
import { jsonOption, type JsonOpt } from './common.js';

export function registerTask(program: Command): void {
  const task = program.command('task').description('long operations (create, start, migrate, …)');
  jsonOption(task.command('list').alias('ls').description('list recent tasks, newest first'))
    .option('--limit <N>', 'how many', parsePositiveInt, 20)
    .action(async (opts: JsonOpt & { limit: number }) => {
      const tasks = await connect().get<Task[]>(`/api/v1/tasks?limit=${opts.limit}`);
      if (opts.json) return printJson(tasks);
      printTable(
        ['ID', 'KIND', 'TARGET', 'STATE', 'PROGRESS', 'CREATED', 'MESSAGE'],
        tasks.map((t) => [t.id, t.kind, t.target, t.state, `${Math.floor(t.progress)}%`, t.createdAt, t.error ? `${t.error.message} (${t.error.code})` : t.message]),
      );
    });
  jsonOption(task.command('show').argument('<id>').description('show one task')).action(async (id: string, opts: JsonOpt) => {
    setErrorContext(`task ${id}`);
    const t = await connect().get<Task>(`/api/v1/tasks/${encodeURIComponent(id)}`);
    if (opts.json) return printJson(t);
    process.stdout.write(formatTask(t) + '\n');
  });
  jsonOption(task.command('abort').argument('<id>').description('ask a running task to stop (it cleans up and ends `aborted`)')).action(
    async (id: string, opts: JsonOpt) => {
      setErrorContext(`task ${id}`);
      const t = await connect().post<Task>(`/api/v1/tasks/${encodeURIComponent(id)}/abort`);
      if (opts.json) return printJson(t);
      process.stdout.write(`task ${t.id}: abort requested (${t.state})\n`);
    },
  );
}

export function formatTask(t: Task): string {
  return formatFields([
    ['id', t.id],
    ['kind', t.kind],
    ['target', t.target],
    ['state', t.state],
    ['progress', `${Math.floor(t.progress)}%`],
    ['message', t.message || undefined],
    ['error', t.error ? `${t.error.message} (${t.error.code})` : undefined],
    ['created', t.createdAt],
    ['started', t.startedAt],
    ['finished', t.finishedAt],
  ]);
}
