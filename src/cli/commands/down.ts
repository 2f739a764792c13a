// `ferry down`: stop everything `ferry up` started, by PID only, and check that nothing is
// left. Order: the controller first (so no scheduler starts or moves a VM meanwhile), then the
// agents (an agent never stops its VMs when it exits), then every QEMU found in each agent's
// data dir. Data dirs stay unless --purge.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { clusterFilePath, ferryHome, readClusterFile, type ClusterFile } from '../config.js';
import { UsageError, printJson } from '../output.js';
import { isAlive, isAliveRunning, terminate } from '../process.js';

const GRACE_MS = 5000;

export function registerDown(program: Command): void {
  program
    .command('down')
    .description('stop the local cluster: controller, agents and every VM (QEMU) they started')
    .option('--purge', 'also delete the data dirs, logs and credentials in the cluster home')
    .option('--json', 'print what was stopped as JSON')
    .action(async (o: { purge?: boolean; json?: boolean }) => {
      const home = ferryHome();
      const cluster = readClusterFile(home);
      if (!cluster) {
        if (o.purge) purge(home);
        if (o.json) return printJson({ home, running: false, stopped: [] });
        process.stdout.write(`No cluster is up in ${home}${o.purge ? ' (purged its data)' : ''}.\n`);
        return;
      }
      const stopped: { what: string; pid: number }[] = [];
      await stopCluster(cluster, (what, pid) => stopped.push({ what, pid }));
      rmSync(clusterFilePath(home), { force: true });
      if (o.purge) purge(home);
      if (o.json) return printJson({ home, running: false, stopped, purged: o.purge === true });
      const qemus = stopped.filter((s) => s.what.startsWith('qemu')).length;
      process.stdout.write(
        `Stopped the cluster in ${home}: controller, ${cluster.agents.length} agent(s), ${qemus} QEMU process(es).\n` +
          (o.purge ? 'Data, logs and credentials removed.\n' : `Data kept in ${join(home, 'controller')} and ${join(home, 'hosts')} (ferry down --purge removes them).\n`),
      );
    });
}

function purge(home: string): void {
  for (const p of ['controller', 'hosts', 'logs', 'admin-token', 'cluster-secret']) rmSync(join(home, p), { recursive: true, force: true });
}

async function qemuPids(dataDir: string): Promise<number[]> {
  const { findQemuPids } = await import('../../agent/index.js');
  try {
    return findQemuPids(dataDir);
  } catch {
    return [];
  }
}

/** Stop every process of the cluster; throws if any of them survives. */
export async function stopCluster(c: ClusterFile, onStopped: (what: string, pid: number) => void): Promise<void> {
  const stopOne = async (what: string, pid: number): Promise<void> => {
    if (await terminate(pid, GRACE_MS)) onStopped(what, pid);
  };
  if (isAliveRunning(c.controller.pid, 'ferry')) await stopOne('controller', c.controller.pid);
  await Promise.all(c.agents.filter((a) => isAliveRunning(a.pid, 'ferry')).map((a) => stopOne(`agent ${a.name}`, a.pid)));
  for (const a of c.agents) {
    await Promise.all((await qemuPids(a.dataDir)).map((pid) => stopOne(`qemu on ${a.name}`, pid)));
  }
  const survivors: string[] = [];
  if (isAliveRunning(c.controller.pid, 'ferry')) survivors.push(`controller pid ${c.controller.pid}`);
  for (const a of c.agents) {
    if (isAliveRunning(a.pid, 'ferry')) survivors.push(`agent ${a.name} pid ${a.pid}`);
    for (const pid of await qemuPids(a.dataDir)) if (isAlive(pid)) survivors.push(`qemu pid ${pid} on ${a.name}`);
  }
  if (survivors.length > 0) throw new UsageError(`still running after SIGKILL: ${survivors.join(', ')}`, 1);
}
