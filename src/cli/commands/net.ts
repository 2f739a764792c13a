// `ferry net show` and `ferry net exec`: the guest network of a `ferry up --net bridged`
// cluster, read from cluster.json (the controller does not know the namespaces).
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { Command } from 'commander';
import { clusterFilePath, ferryHome, readClusterFile, type ClusterNet } from '../config.js';
import { formatNet } from '../net/show.js';
import { listNetns } from '../net/topology.js';
import { UsageError, printJson } from '../output.js';
import { jsonOption, type JsonOpt } from './common.js';

export function registerNet(program: Command): void {
  const net = program.command('net').description('guest network of the local cluster (ferry up --net bridged)');
  jsonOption(net.command('show').description('sites, subnets, gateways, namespaces and hosts; --json prints the net record of cluster.json')).action(
    async (o: JsonOpt) => {
      const n = clusterNet();
      if (o.json) return printJson(n ?? { mode: 'user' });
      if (!n) {
        process.stdout.write('The cluster uses user-mode guest networking (no namespaces); ferry up --net bridged gives each site a bridge.\n');
        return;
      }
      process.stdout.write(formatNet(n, new Set(await listNetns().catch(() => []))) + '\n');
    },
  );
  net
    .command('exec')
    .description('run CMD inside SITE\'s namespace (its bridge and gateway address), e.g. ferry net exec main -- curl http://10.77.1.10/')
    .argument('<site>', 'site name')
    .argument('<cmd...>', 'command and its arguments; put -- before CMD if an argument could be a ferry option (-h, -V)')
    // CMD's own options (curl -s …) arrive in order after the operands; -- is still the safe form.
    .allowUnknownOption()
    .action(async (site: string, cmd: string[]) => {
      const n = clusterNet();
      if (!n) throw new UsageError('the cluster uses user-mode guest networking; ferry net exec needs a cluster started with ferry up --net bridged');
      const s = n.sites.find((x) => x.site === site);
      if (!s) throw new UsageError(`unknown site ${site} (sites: ${n.sites.map((x) => x.site).join(', ')})`);
      if (!(await listNetns()).includes(s.netns)) throw new UsageError(`namespace ${s.netns} is gone; run ferry down, then ferry up`, 1);
      process.exitCode = await runIn(s.netns, cmd);
    });
}

/** The running cluster's net record; undefined for user-mode networking. */
function clusterNet(): ClusterNet | undefined {
  const home = ferryHome();
  const c = readClusterFile(home);
  if (!c) throw new UsageError(`no cluster is up in ${home} (no ${clusterFilePath(home)}); run ferry up --net bridged`, 1);
  return c.net;
}

/** Run argv in `netns` with the terminal attached; resolves to its exit code (128+n for a signal). */
function runIn(netns: string, argv: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', netns, ...argv], { stdio: 'inherit' });
    // Ctrl-C reaches the child through the terminal; we wait for it to pass its code on.
    const ignore = (): void => undefined;
    const forward = (): void => void child.kill('SIGTERM');
    process.on('SIGINT', ignore);
    process.on('SIGTERM', forward);
    const done = (): void => {
      process.off('SIGINT', ignore);
      process.off('SIGTERM', forward);
    };
    child.on('error', (err) => {
      done();
      reject(new UsageError(`could not run ip netns exec: ${err.message}`, 1));
    });
    child.on('exit', (code, sig) => {
      done();
      resolve(code ?? 128 + (sig ? constants.signals[sig] : 0));
    });
  });
}
