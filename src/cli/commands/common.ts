// Helpers shared by the command modules.
import type { Command } from 'commander';
import type { Task, Vm } from '../../contracts/controller-api.js';
import type { ApiClient } from '../../contracts/http-client.js';
import { printJson } from '../output.js';
import { taskError, waitTask } from '../wait-task.js';

export interface JsonOpt {
  json?: boolean;
}
export interface WaitOpts extends JsonOpt {
  wait: boolean;
}

export function jsonOption(cmd: Command): Command {
  return cmd.option('--json', 'print JSON instead of text');
}

export function waitOptions(cmd: Command): Command {
  return jsonOption(cmd).option('--no-wait', 'print the task and return at once instead of waiting for it');
}

export const vmPath = (name: string): string => `/api/v1/vms/${encodeURIComponent(name)}`;

export function taskLine(t: Task): string {
  return `task ${t.id}: ${t.kind} ${t.target} ${t.state}${t.error ? ` — ${t.error.message} (${t.error.code})` : ''}`;
}

/**
 * Follow a task the user started: --no-wait prints the task as accepted; otherwise wait, print
 * the final task (--json) and throw its error if it failed. Returns the final task, or
 * undefined when not waiting.
 */
export async function followTask(api: ApiClient, task: Task, opts: WaitOpts, jsonResult = true): Promise<Task | undefined> {
  if (!opts.wait) {
    if (opts.json) printJson(task);
    else process.stdout.write(`${taskLine(task)}\n`);
    return undefined;
  }
  const done = await waitTask(api, task);
  if (opts.json && (jsonResult || done.state !== 'succeeded')) printJson(done);
  if (done.state !== 'succeeded') throw taskError(done);
  return done;
}

/**
 * Follow a task whose result is a record (a migration record, a failover report): --no-wait
 * prints the task; otherwise wait with a live `render` line, print the record (text, or with
 * --json the record itself) — also for a task that failed, if `ofFailed` finds its record —
 * and throw the task's error if it did not succeed.
 */
export async function followRecord<R>(
  api: ApiClient,
  task: Task,
  opts: WaitOpts,
  show: { render?: (t: Task) => string; format: (r: R) => string; ofFailed: (done: Task) => Promise<R | undefined> },
): Promise<void> {
  if (!opts.wait) {
    if (opts.json) printJson(task);
    else process.stdout.write(`${taskLine(task)}\n`);
    return;
  }
  const done = await waitTask(api, task, show.render);
  const rec = done.state === 'succeeded' ? (done.result as R) : await show.ofFailed(done);
  if (rec && opts.json) printJson(rec);
  else if (rec) process.stdout.write(show.format(rec) + '\n');
  if (done.state !== 'succeeded') throw taskError(done);
}

export function vmLine(vm: Vm): string {
  return `vm ${vm.name}: ${vm.state} on ${vm.host} (site ${vm.site})${vm.error ? ` — ${vm.error}` : ''}`;
}
