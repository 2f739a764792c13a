// `ferry down`: stop everything `ferry up` started, by PID only, and check that nothing is
// left. Order: the controllers first (so no scheduler starts or moves a VM meanwhile), then the
// agents (an agent never stops its VMs when it exits), then each host's fence guard (started by
// its agent, it outlives it: <dataDir>/fence/guard.json names it), then every QEMU found in each
// agent's data dir, then the PostgreSQL server of --db postgres. Data dirs stay unless --purge. A --net bridged cluster's namespaces go last (hosts,
// then sites): a QEMU still inside one would keep it alive, unseen, after `ip netns delete`.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { clusterFilePath, ferryHome, readClusterFile, type ClusterFile } from '../config.js';
import { deleteTopology, teardownProblems, type NetTeardown } from '../net/topology.js';
import { deleteIsolated } from '../net/isolated.js';
import { UsageError, note, printJson } from '../output.js';
import { stopLocalPostgres } from '../local-postgres.js';
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
      const net = cluster.net ? await deleteTopology(cluster.net) : undefined;
      const isolatedLeft = cluster.isolated ? await deleteIsolated(cluster.isolated) : [];
      if (isolatedLeft.length > 0) throw new UsageError(`stopped the processes, but could not delete the isolated network: ${isolatedLeft.join('; ')}; run ferry down again`, 1);
      // A namespace we could not delete stays recorded, so that ferry down can be run again.
      const stuck = net ? [...net.busy, ...net.failed] : [];
      if (net && stuck.length > 0) {
        throw new UsageError(`stopped the processes, but could not delete the cluster network: ${teardownProblems(net).join('; ')}; fix that and run ferry down again`, 1);
      }
      rmSync(clusterFilePath(home), { force: true });
      if (o.purge) purge(home);
      // Something of ours outside the recorded namespaces: report it, never delete what we did not record.
      if (net && net.leftovers.length > 0) {
        note(`ferry: the cluster is down, but this is left: ${net.leftovers.join('; ')}`);
        process.exitCode = 1;
      }
      if (o.json) return printJson({ home, running: false, stopped, ...(net ? { net: netSummary(net) } : {}), purged: o.purge === true });
      const qemus = stopped.filter((s) => s.what.startsWith('qemu')).length;
      process.stdout.write(
        `Stopped the cluster in ${home}: ${cluster.controllers && cluster.controllers.length > 1 ? `${cluster.controllers.length} controllers` : 'controller'}${cluster.postgres ? ', PostgreSQL' : ''}, ${cluster.agents.length} agent(s), ${qemus} QEMU process(es).\n` +
          (cluster.isolated ? `Deleted the isolated network (${cluster.isolated.namespaces.length} namespaces, ${cluster.isolated.subnet}).\n` : '') +
          (net ? `Deleted ${net.deleted.length} network namespace(s) of cluster net ${cluster.net?.id}${net.missing.length > 0 ? ` (${net.missing.length} already gone)` : ''}.\n` : '') +
          (o.purge ? 'Data, logs and credentials removed.\n' : `Data kept in ${join(home, 'controller')} and ${join(home, 'hosts')} (ferry down --purge removes them).\n`),
      );
    });
}

function netSummary(t: NetTeardown): { deleted: string[]; missing: string[]; leftovers: string[] } {
  return { deleted: t.deleted, missing: t.missing, leftovers: t.leftovers };
}

function purge(home: string): void {
  for (const p of ['controller', 'hosts', 'logs', 'postgres', 'admin-token', 'ca.pem']) rmSync(join(home, p), { recursive: true, force: true });
  for (const d of existsSync(home) ? readdirSync(home) : []) if (/^controller\d+$/.test(d)) rmSync(join(home, d), { recursive: true, force: true });
}

async function guardPid(dataDir: string): Promise<number | undefined> {
  const { findGuardPid } = await import('../../agent/index.js');
  return findGuardPid(dataDir);
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
  const controllers = c.controllers ?? [c.controller];
  await Promise.all(controllers.filter((x) => isAliveRunning(x.pid, 'ferry')).map((x, i) => stopOne(i === 0 ? 'controller' : `controller ${x.dataDir}`, x.pid)));
  await Promise.all(c.agents.filter((a) => isAliveRunning(a.pid, 'ferry')).map((a) => stopOne(`agent ${a.name}`, a.pid)));
  await Promise.all(c.agents.map(async (a) => {
    const pid = await guardPid(a.dataDir);
    if (pid !== undefined) await stopOne(`fence guard of ${a.name}`, pid);
  }));
  for (const a of c.agents) {
    await Promise.all((await qemuPids(a.dataDir)).map((pid) => stopOne(`qemu on ${a.name}`, pid)));
  }
  // PostgreSQL last: the controllers flush to it while they stop.
  if (c.postgres && isAliveRunning(c.postgres.pid, 'postgres')) {
    await stopLocalPostgres(c.postgres.pid);
    if (!isAlive(c.postgres.pid)) onStopped('postgres', c.postgres.pid);
  }
  const survivors: string[] = [];
  for (const x of controllers) if (isAliveRunning(x.pid, 'ferry')) survivors.push(`controller pid ${x.pid}`);
  if (c.postgres && isAliveRunning(c.postgres.pid, 'postgres')) survivors.push(`postgres pid ${c.postgres.pid}`);
  for (const a of c.agents) {
    if (isAliveRunning(a.pid, 'ferry')) survivors.push(`agent ${a.name} pid ${a.pid}`);
    const guard = await guardPid(a.dataDir);
    if (guard !== undefined) survivors.push(`fence guard of ${a.name} pid ${guard}`);
    for (const pid of await qemuPids(a.dataDir)) if (isAlive(pid)) survivors.push(`qemu pid ${pid} on ${a.name}`);
  }
  if (survivors.length > 0) throw new UsageError(`still running after SIGKILL: ${survivors.join(', ')}`, 1);
}
