// `ferry vm migrate VM --to HOST …` (live migration, src/contracts/migration.ts) and
// `ferry vm migrations [VM]`. --json prints the MigrationRecord (the plan with --dry-run; the
// Task with --no-wait). A failed migration exits 1 with its one-line error (and, with --json,
// prints its record first).
import type { Command } from 'commander';
import type { Task } from '../../contracts/controller-api.js';
import { MIGRATION_STRATEGIES, type MigrateRequest, type MigrationPlan, type MigrationRecord } from '../../contracts/migration.js';
import type { ApiClient } from '../../contracts/http-client.js';
import { connect } from '../config.js';
import { formatPlan, formatRecord, formatRecords, progressBar } from '../migration-format.js';
import { printJson, setErrorContext } from '../output.js';
import { parseBandwidth, parseChoice, parsePositiveInt } from '../parse.js';
import { followRecord, jsonOption, vmPath, waitOptions, type JsonOpt, type WaitOpts } from './common.js';

interface MigrateOpts extends WaitOpts {
  to: string;
  strategy?: MigrateRequest['strategy'];
  maxDowntime?: number;
  bandwidth?: number;
  transport?: MigrateRequest['transport'];
  dryRun?: boolean;
}

const TRANSPORTS = ['auto', 'direct', 'passthrough', 'chunked'] as const;

export function registerMigrate(vm: Command): void {
  waitOptions(vm.command('migrate').argument('<name>').description('live-migrate a running VM to another host; --json prints the migration record'))
    .requiredOption('--to <HOST>', 'target host')
    .option('--strategy <S>', 'auto | precopy | postcopy (auto may choose hybrid)', parseChoice(MIGRATION_STRATEGIES))
    .option('--max-downtime <MS>', 'longest acceptable pause of the VM in ms (default 300)', parsePositiveInt)
    .option('--bandwidth <RATE>', 'cap on the wire: bytes/s (100M, 1G) or bits/s (100Mbit)', parseBandwidth)
    .option('--transport <T>', 'auto | direct | passthrough | chunked', parseChoice(TRANSPORTS))
    .option('--dry-run', 'measure and print the plan (every strategy, and the one chosen); change nothing')
    .action(async (name: string, o: MigrateOpts) => {
      setErrorContext(`vm ${name}`);
      const api = connect();
      const body: MigrateRequest = {
        to: o.to,
        ...(o.strategy !== undefined ? { strategy: o.strategy } : {}),
        ...(o.maxDowntime !== undefined ? { maxDowntimeMs: o.maxDowntime } : {}),
        ...(o.bandwidth !== undefined ? { bandwidthBytesPerSec: o.bandwidth } : {}),
        ...(o.transport !== undefined ? { transport: o.transport } : {}),
        ...(o.dryRun ? { dryRun: true } : {}),
      };
      if (o.dryRun) {
        const plan = await api.post<MigrationPlan>(`${vmPath(name)}/migrate`, body, { timeoutMs: 90_000 });
        if (o.json) printJson(plan);
        else process.stdout.write(formatPlan(plan) + '\n');
        return;
      }
      const task = await api.post<Task>(`${vmPath(name)}/migrate`, body);
      await followRecord(api, task, o, { render: progressBar, format: formatRecord, ofFailed: () => latestRecord(api, name, task) });
    });

  jsonOption(vm.command('migrations').argument('[name]').description('list migration records, newest first (of one VM, or all)')).action(
    async (name: string | undefined, o: JsonOpt) => {
      if (name) setErrorContext(`vm ${name}`);
      const q = name ? `?vm=${encodeURIComponent(name)}` : '';
      const list = await connect().get<MigrationRecord[]>(`/api/v1/migrations${q}`);
      if (o.json) return printJson(list);
      process.stdout.write(formatRecords(list) + '\n');
    },
  );
}

/** The record of a migration that did not succeed: the newest for this VM started after the task. */
async function latestRecord(api: ApiClient, name: string, task: Task): Promise<MigrationRecord | undefined> {
  const list = await api.get<MigrationRecord[]>(`/api/v1/migrations?vm=${encodeURIComponent(name)}`).catch(() => []);
  const r = list[0];
  return r && r.startedAt >= task.createdAt ? r : undefined;
}
