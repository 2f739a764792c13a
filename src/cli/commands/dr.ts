// `ferry dr …`: disaster recovery (src/contracts/dr.ts). protect / unprotect / status / checkpoints
// read and change protections; failover / failback are tasks we wait for (unless --no-wait),
// showing progress, then print the FailoverReport (--json: the report itself). A failover whose
// report failed exits 1 with its one-line error, after printing the report.
import type { Command } from 'commander';
import type { Task, Vm } from '../../contracts/controller-api.js';
import type { CheckpointRecord, FailoverReport, FailoverRequest, Protection, ProtectRequest, ScrubReport } from '../../contracts/dr.js';
import type { ApiClient } from '../../contracts/http-client.js';
import { connect } from '../config.js';
import { formatCheckpoints, formatProtections, formatReport, formatReports, formatScrub, protectionLine } from '../dr-format.js';
import { progressBar } from '../migration-format.js';
import { printJson, setErrorContext, UsageError } from '../output.js';
import { parseBandwidth, parseDuration, parsePositiveInt } from '../parse.js';
import { followRecord, jsonOption, waitOptions, type JsonOpt, type WaitOpts } from './common.js';

const DR = '/api/v1/dr';
const protectionPath = (vm: string): string => `${DR}/protections/${encodeURIComponent(vm)}`;

interface ProtectOpts extends JsonOpt {
  to: string;
  rpo: number;
  keep?: number;
  bandwidth?: number;
  /** false with --no-ha. */
  ha: boolean;
}

export function registerDr(program: Command): void {
  const dr = program.command('dr').description('disaster recovery: replicate VMs to another site, fail over, test, fail back');

  jsonOption(dr.command('protect').argument('<vm>').description('replicate a VM to a host of another site, keeping its newest checkpoint within the RPO; --json prints the Protection'))
    .requiredOption('--to <SITE>', 'the DR site (not the VM\'s own)')
    .requiredOption('--rpo <DURATION>', 'recovery point objective: 30s, 2m, 1h; 0 = zero-loss mode (guest output held until its checkpoint commits)', parseDuration)
    .option('--keep <N>', 'points in time kept at the DR site (default 3)', parsePositiveInt)
    .option('--bandwidth <RATE>', 'cap on replication traffic: bytes/s (10M) or bits/s (100Mbit)', parseBandwidth)
    .option('--no-ha', 'no high availability: should the VM\'s host go silent, leave the VM there (by default its host stops it and it restarts at the DR site)')
    .action(async (vm: string, o: ProtectOpts) => {
      setErrorContext(`vm ${vm}`);
      const body: ProtectRequest = {
        vm,
        toSite: o.to,
        rpoMs: o.rpo,
        ...(o.keep !== undefined ? { keep: o.keep } : {}),
        ...(o.bandwidth !== undefined ? { bandwidthBytesPerSec: o.bandwidth } : {}),
        ...(o.ha === false ? { ha: false } : {}),
      };
      const p = await connect().post<Protection>(`${DR}/protections`, body);
      if (o.json) return printJson(p);
      process.stdout.write(`${protectionLine(p)}\n`);
    });

  jsonOption(dr.command('unprotect').argument('<vm>').description('stop replicating a VM and free its copies at the DR site; --json prints the Protection as it was')).action(
    async (vm: string, o: JsonOpt) => {
      setErrorContext(`vm ${vm}`);
      const p = await connect().delete<Protection>(protectionPath(vm), { timeoutMs: 60_000 });
      if (o.json) return printJson(p);
      process.stdout.write(`dr ${vm}: unprotected; replication stopped, its checkpoints at ${p.targetHost} freed\n`);
    },
  );

  jsonOption(dr.command('status').description('every protection: source and DR site/host, RPO, age of the newest checkpoint, state, bytes sent, alarm')).action(
    async (o: JsonOpt) => {
      const api = connect();
      const list = await api.get<Protection[]>(`${DR}/protections`);
      if (o.json) return printJson(list);
      const vms = await api.get<Vm[]>('/api/v1/vms').catch(() => [] as Vm[]);
      process.stdout.write(formatProtections(list, (name) => vms.find((v) => v.name === name)?.host) + '\n');
    },
  );

  jsonOption(dr.command('checkpoints').argument('<vm>').description("a protected VM's committed checkpoints, newest first")).action(async (vm: string, o: JsonOpt) => {
    setErrorContext(`vm ${vm}`);
    const list = await connect().get<CheckpointRecord[]>(`${protectionPath(vm)}/checkpoints`);
    if (o.json) return printJson(list);
    process.stdout.write(formatCheckpoints(list) + '\n');
  });

  waitOptions(dr.command('failover').argument('<vm>').description('run the VM at the DR site from its newest checkpoint (its host must be down or fenced); --json prints the FailoverReport'))
    .option('--planned', 'the VM\'s host is up: final checkpoint with the VM paused, nothing lost')
    .option('--test', 'DR test: run an isolated copy at the DR site, check it, tear it down; production and replication go on')
    .action(async (vm: string, o: WaitOpts & { planned?: boolean; test?: boolean }) => {
      setErrorContext(`vm ${vm}`);
      if (o.planned && o.test) throw new UsageError('--planned and --test exclude each other');
      const body: FailoverRequest = { mode: o.test ? 'test' : o.planned ? 'planned' : 'unplanned' };
      const api = connect();
      await followReport(api, vm, await api.post<Task>(`${protectionPath(vm)}/failover`, body), o);
    });

  waitOptions(dr.command('failback').argument('<vm>').description('bring a failed-over VM home, sending only what changed; --json prints the FailoverReport')).action(
    async (vm: string, o: WaitOpts) => {
      setErrorContext(`vm ${vm}`);
      const api = connect();
      await followReport(api, vm, await api.post<Task>(`${protectionPath(vm)}/failback`, {}), o);
    },
  );

  jsonOption(dr.command('scrub').argument('<host>').description("verify every chunk in a host's DR store; corrupt ones are removed and the checkpoints using them marked damaged")).action(
    async (host: string, o: JsonOpt) => {
      setErrorContext(`host ${host}`);
      const r = await connect().post<ScrubReport>(`/api/v1/hosts/${encodeURIComponent(host)}/dr-scrub`, {});
      if (r.corrupt.length > 0 || r.damaged.length > 0) process.exitCode = 1;
      if (o.json) return printJson(r);
      process.stdout.write(formatScrub(host, r) + '\n');
    },
  );

  jsonOption(dr.command('reports').argument('[vm]').description('failover, DR test and failback reports, newest first (of one VM, or all)')).action(
    async (vm: string | undefined, o: JsonOpt) => {
      if (vm) setErrorContext(`vm ${vm}`);
      const list = await connect().get<FailoverReport[]>(`${DR}/reports${vm ? `?vm=${encodeURIComponent(vm)}` : ''}`);
      if (o.json) return printJson(list);
      process.stdout.write(formatReports(list) + '\n');
    },
  );
}

function followReport(api: ApiClient, vm: string, task: Task, o: WaitOpts): Promise<void> {
  return followRecord<FailoverReport>(api, task, o, {
    render: progressBar,
    format: formatReport,
    // The report of a task that did not succeed: the newest for this VM finished after the task began.
    ofFailed: async (done) => {
      const list = await api.get<FailoverReport[]>(`${DR}/reports?vm=${encodeURIComponent(vm)}`).catch(() => []);
      const r = list[0];
      return r && r.finishedAt >= done.createdAt ? r : undefined;
    },
  });
}
