// `ferry status`: one screen on the whole cluster.
import type { Command } from 'commander';
import type { ClusterStatus } from '../../contracts/controller-api.js';
import { connect } from '../config.js';
import { formatFields, printJson } from '../output.js';
import { jsonOption, type JsonOpt } from './common.js';

export function registerStatus(program: Command): void {
  jsonOption(program.command('status').description('show the cluster: controller, hosts, VMs and running tasks')).action(
    async (opts: JsonOpt) => {
      const api = connect();
      const s = await api.get<ClusterStatus>('/api/v1/status');
      if (opts.json) return printJson(s);
      const vms = Object.entries(s.vms)
        .filter(([, n]) => n > 0)
        .map(([state, n]) => `${n} ${state}`)
        .join(', ');
      process.stdout.write(
        formatFields([
          ['controller', `${api.baseUrl} (version ${s.version}, up ${Math.floor(s.uptimeSeconds)} s)`],
          ['hosts', `${s.hosts.up} up, ${s.hosts.down} down`],
          ['vms', vms || 'none'],
          ['tasks', `${s.tasksRunning} running`],
        ]) + '\n',
      );
    },
  );
}
