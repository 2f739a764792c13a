// `ferry host list`.
import type { Command } from 'commander';
import type { Host } from '../../contracts/controller-api.js';
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
}
