// `ferry host list`.
import type { Command } from 'commander';
import type { Host } from '../../contracts/controller-api.js';
import type { HostRemoved, JoinToken } from '../../contracts/enrolment.js';
import { parsePositiveInt } from '../parse.js';
import { sizeMiB } from '../../contracts/format.js';
import { connect } from '../config.js';
import { printJson, printTable } from '../output.js';
import { jsonOption, type JsonOpt } from './common.js';
import { hostLoadCells } from './metrics.js';

export function registerHost(program: Command): void {
  const host = program.command('host').description('hosts (one agent each)');
  jsonOption(host.command('list').alias('ls').description('list hosts; --json prints an array of Host (name, site, state, url, …)')).action(
    async (opts: JsonOpt) => {
      const hosts = await connect().get<Host[]>('/api/v1/hosts');
      if (opts.json) return printJson(hosts);
      printTable(
        ['NAME', 'SITE', 'STATE', 'ACCEL', 'CPUS', 'MEMORY', 'ALLOCATED', 'VMS', 'LOAD', 'CPU%', 'NET%', 'MEM%', 'VOLUME', 'HOT', 'URL'],
        hosts.map((h) => [
          h.name,
          h.site,
          h.state,
          h.accel,
          h.cpus,
          sizeMiB(h.memoryMiB),
          sizeMiB(h.memoryAllocatedMiB),
          h.vmCount,
          h.loadAvg1.toFixed(2),
          ...hostLoadCells(h.load),
          h.url,
        ]),
      );
    },
  );

  jsonOption(
    host
      .command('token')
      .description('mint a one-time join token for a new host: ferry agent --join URL --token TOKEN (admin)')
      .option('--ttl <SECONDS>', 'how long the token may wait to be used (default 86400)', parsePositiveInt),
  ).action(async (opts: JsonOpt & { ttl?: number }) => {
    const t = await connect().post<JoinToken>('/api/v1/hosts/tokens', opts.ttl === undefined ? {} : { ttlSeconds: opts.ttl });
    if (opts.json) return printJson(t);
    process.stdout.write(`${t.token}\n`);
  });

  jsonOption(
    host
      .command('remove <NAME>')
      .alias('rm')
      .description("remove a host: its certificate is refused from now on (refused while VMs are recorded on it); it may join again with a new token"),
  ).action(async (name: string, opts: JsonOpt) => {
    const r = await connect().delete<HostRemoved>(`/api/v1/hosts/${encodeURIComponent(name)}`);
    if (opts.json) return printJson(r);
    process.stdout.write(`host ${r.name} removed${r.revoked ? '; its certificate is revoked' : ''}\n`);
  });
}
