// `ferry status`: one screen on the whole cluster. With several controllers (--db postgres) it
// asks each for its role, so `--json` lists `controllers: [{url, role, up, pid}]`.
import type { Command } from 'commander';
import type { ClusterStatus, ControllerRole } from '../../contracts/controller-api.js';
import { connect, controllerClient, controllerUrls, ferryHome, readClusterFile, resolveConnection } from '../config.js';
import { formatFields, printJson } from '../output.js';
import { jsonOption, type JsonOpt } from './common.js';

const ASK_MS = 2_000;

interface ControllerLine {
  url: string;
  role: ControllerRole;
  up: boolean;
  pid?: number;
}

/** Every controller this CLI knows of, each asked directly (never redirected) for its role. */
async function controllers(token: string, ca: string | undefined, urls: readonly string[], pids: ReadonlyMap<string, number>): Promise<ControllerLine[]> {
  return Promise.all(
    urls.map(async (url): Promise<ControllerLine> => {
      const pid = pids.get(url);
      try {
        const s = await controllerClient([url], token, ca).get<ClusterStatus>('/api/v1/status', { timeoutMs: ASK_MS });
        return { url, role: s.controller?.role ?? 'leader', up: true, ...(s.controller?.pid !== undefined ? { pid: s.controller.pid } : pid !== undefined ? { pid } : {}) };
      } catch {
        return { url, role: 'standby', up: false, ...(pid !== undefined ? { pid } : {}) };
      }
    }),
  );
}

export function registerStatus(program: Command): void {
  jsonOption(program.command('status').description('show the cluster: controllers, hosts, VMs and running tasks')).action(
    async (opts: JsonOpt) => {
      const api = connect();
      const s = await api.get<ClusterStatus>('/api/v1/status');
      const cluster = readClusterFile(ferryHome());
      const conn = resolveConnection(process.env, cluster)!;
      const pids = new Map((cluster?.controllers ?? (cluster ? [{ url: cluster.url, pid: cluster.controller.pid }] : [])).map((c) => [c.url, c.pid]));
      const list = await controllers(conn.token, conn.ca, controllerUrls(conn, cluster), pids);
      if (opts.json) return printJson({ ...s, url: api.baseUrl, controllers: list });
      const vms = Object.entries(s.vms)
        .filter(([, n]) => n > 0)
        .map(([state, n]) => `${n} ${state}`)
        .join(', ');
      process.stdout.write(
        formatFields([
          ['controller', `${api.baseUrl} (version ${s.version}, up ${Math.floor(s.uptimeSeconds)} s${s.controller?.store === 'postgres' ? ', state in PostgreSQL' : ''})`],
          ...(list.length > 1 ? list.map((c): [string, string] => ['', `${c.url} ${c.up ? c.role : 'down'}${c.pid !== undefined ? ` (pid ${c.pid})` : ''}`]) : []),
          ['hosts', `${s.hosts.up} up, ${s.hosts.down} down`],
          ['vms', vms || 'none'],
          ['tasks', `${s.tasksRunning} running`],
        ]) + '\n',
      );
    },
  );
}
