// `ferry up`: a local cluster in the background. Layout of the cluster home ($FERRY_HOME or
// ~/.ferry):
//   admin-token                   the admin token (0600)
//   cluster.json                  {url, token, ca, controller:{pid}, agents:[{name, site, pid, dataDir, args}], net?} (0600)
//   controller/                   the controller's data dir (with the cluster CA, ca/, unless --db postgres)
//   hosts/<name>/                 each agent's data dir (its identity in tls/, its join token until it joined)
// The cluster is made as on separate machines: `ferry controller init` (the CA and one join token
// per host), the controllers, then each agent joining with its token over HTTPS.
//   logs/<controller|name>.log    stdout+stderr of each process
// Hosts are named host1..hostN across the whole cluster; with --sites they are numbered in
// the order the sites are given (main:2,dr:1 → host1, host2 in main; host3 in dr).
// Running `ferry up` again on a running cluster starts any agent that is no longer running
// (same arguments as before) and otherwise does nothing.
// --net bridged (root) also builds the guest network of src/cli/net/plan.ts before the agents
// start, records it in cluster.json as `net`, and passes each agent its host's --guest-* options.
import { spawn } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { newToken } from '../../contracts/auth.js';
import type { ClusterStatus, Host } from '../../contracts/controller-api.js';
import type { ApiClient } from '../../contracts/http-client.js';
import { initController } from '../../controller/init.js';
import { clusterFilePath, controllerClient, ferryHome, FOLLOW_LEADER_MS, readClusterFile, writeClusterFile, type AgentRecord, type ClusterFile, type ControllerRecord } from '../config.js';
import { startLocalPostgres } from '../local-postgres.js';
import { agentNetArgs, bridgedProblem, freeNetId, parseNetMode, planNet, type NetMode, type NetPlan } from '../net/plan.js';
import { createTopology, deleteTopology, listNetns, missingNetns, netnsSupport, teardownProblems } from '../net/topology.js';
import { createIsolated, deleteIsolated, memberOf, planIsolated } from '../net/isolated.js';
import { UsageError, note, printJson } from '../output.js';
import { parseAccel, parsePort, parsePositiveInt, parseSites, planHosts, type Accel } from '../parse.js';
import { isAliveRunning } from '../process.js';
import { stopCluster } from './down.js';

export const BIN = fileURLToPath(new URL('../../../../bin/ferry.js', import.meta.url));
const CONTROLLER_START_MS = 30_000;
const HOSTS_UP_MS = 90_000;

interface UpOpts {
  hosts: number;
  sites?: string;
  port: number;
  accel?: Accel;
  cpuOvercommit?: number;
  netCapacity?: string;
  /** Undefined means user (the default) but lets `ferry up` on a running cluster spot a change. */
  net?: NetMode;
  controllers: number;
  db?: 'sqlite' | 'postgres';
  isolated?: boolean;
  json?: boolean;
}

/** Why several controllers need PostgreSQL: said when --controllers N comes without --db postgres. */
export const ONE_CONTROLLER_ON_SQLITE =
  'SQLite is one file on one machine that one controller owns: several controllers on it would each act as the leader on its own copy of the truth, ' +
  'and none could take over from another. Several controllers share their state and elect a leader in PostgreSQL: add --db postgres';

function parseDb(s: string): 'sqlite' | 'postgres' {
  if (s === 'sqlite' || s === 'postgres') return s;
  throw new UsageError(`option '--db <KIND>' argument '${s}' is invalid: sqlite or postgres`);
}

export function registerUp(program: Command): void {
  program
    .command('up')
    .description('start a local cluster in the background (controller + agents) in $FERRY_HOME or ~/.ferry')
    .option('--hosts <N>', 'number of hosts, all in site main', parsePositiveInt, 2)
    .option('--sites <LIST>', 'hosts per site, e.g. main:2,dr:1 (overrides --hosts); hosts are named host1..hostN in that order')
    .option('--port <PORT>', 'controller port (0 = any free)', parsePort, 7440)
    .option('--accel <A>', 'auto | tcg | kvm for every agent', parseAccel)
    .option('--cpu-overcommit <N>', 'vCPUs placed per host CPU at most (default 4)', parsePositiveInt)
    .option('--net-capacity <RATE>', "every host's link capacity for the balancer: bytes/s or e.g. 100mbit (default 1gbit)")
    .option('--net <MODE>', 'guest networking: user (default, QEMU user-mode NAT) or bridged (needs root: one L2 segment per site in network namespaces)', parseNetMode)
    .option('--controllers <N>', 'number of controllers (more than one needs --db postgres; one leads, the others stand by)', parsePositiveInt, 1)
    .option('--db <KIND>', 'sqlite (default: one controller, state in a file) or postgres (a local PostgreSQL server in $FERRY_HOME)', parseDb)
    .option('--isolated', 'the controller and every agent in a network namespace of its own, on a management bridge the CLI reaches (needs root): nothing shares a loopback')
    .option('--json', 'print cluster.json instead of text')
    .action(async (o: UpOpts) => {
      if (o.controllers > 1 && o.db !== 'postgres') throw new UsageError(`--controllers ${o.controllers}: ${ONE_CONTROLLER_ON_SQLITE}`);
      if (o.isolated && (o.net === 'bridged' || o.controllers > 1)) throw new UsageError('--isolated runs one controller with user-mode guest networking (not yet with --net bridged or --controllers)');
      const sites = o.sites ? parseSitesOrUsage(o.sites) : [{ site: 'main', count: o.hosts }];
      await up(ferryHome(), planHosts(sites), o);
    });
}

function parseSitesOrUsage(s: string): ReturnType<typeof parseSites> {
  try {
    return parseSites(s);
  } catch (err) {
    throw new UsageError(`option '--sites <LIST>' argument '${s}' is invalid. ${(err as Error).message}`);
  }
}

async function up(home: string, hosts: { name: string; site: string }[], o: UpOpts): Promise<void> {
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const existing = readClusterFile(home);
  if (existing) return reuse(home, existing, o);
  const netPlan = o.net === 'bridged' ? await planBridged(hosts) : undefined;
  if (o.isolated) {
    const problem = await netnsSupport();
    if (problem) throw new UsageError(problem.replace('--net bridged', '--isolated'));
  }

  const logs = join(home, 'logs');
  mkdirSync(logs, { recursive: true });
  const tokenFile = writeSecret(join(home, 'admin-token'));
  const token = readFileSync(tokenFile, 'utf8').trim();

  const cluster: ClusterFile = { url: '', token, controller: { pid: 0 }, agents: [] };
  try {
    if (o.db === 'postgres') {
      const pgLog = join(logs, 'postgres.log');
      const server = await startLocalPostgres(join(home, 'postgres'), pgLog);
      cluster.postgres = { pid: server.pid, dir: join(home, 'postgres'), url: server.url, log: pgLog };
      writeClusterFile(home, cluster);
    }
    if (o.isolated) {
      cluster.isolated = { ...planIsolated(freeNetId(await listNetns()), hosts.map((h) => h.name)), namespaces: [] };
      await createIsolated(cluster.isolated, () => writeClusterFile(home, cluster));
    }
    const iso = cluster.isolated;
    // `ferry controller init`: the cluster CA and one join token per host.
    const init = await initController({ dataDir: join(home, 'controller'), tokens: hosts.length, ...(cluster.postgres ? { db: cluster.postgres.url } : {}) });
    cluster.ca = init.caPem;
    // For browsers and other clients: the CA to trust for the controller's HTTPS.
    writeFileSync(join(home, 'ca.pem'), init.caPem, { mode: 0o644 });
    const controllers: ControllerRecord[] = [];
    for (let i = 1; i <= o.controllers; i++) {
      const ctlDir = join(home, i === 1 ? 'controller' : `controller${i}`);
      mkdirSync(ctlDir, { recursive: true });
      rmSync(join(ctlDir, 'controller.json'), { force: true });
      const ctlLog = join(logs, i === 1 ? 'controller.log' : `controller${i}.log`);
      const port = o.port === 0 ? 0 : o.port + i - 1;
      const ctl = iso ? memberOf(iso, 'controller') : undefined;
      const ctlArgs = ['controller', '--data-dir', ctlDir, '--listen', ctl?.address ?? '127.0.0.1', '--port', String(port), '--token-file', tokenFile];
      if (o.cpuOvercommit !== undefined) ctlArgs.push('--cpu-overcommit', String(o.cpuOvercommit));
      if (cluster.postgres) ctlArgs.push('--db', cluster.postgres.url);
      const pid = startDetached(ctlArgs, ctlLog, ctl?.netns);
      if (i === 1) cluster.controller = { pid, dataDir: ctlDir, log: ctlLog, ...(ctl ? { netns: ctl.netns } : {}) };
      controllers.push({ url: '', pid, dataDir: ctlDir, log: ctlLog });
      if (o.db === 'postgres') cluster.controllers = controllers;
      writeClusterFile(home, cluster);
    }
    for (const c of controllers) c.url = await waitController(c.dataDir, c.pid, token, init.caPem, c.log);
    cluster.url = controllers[0]!.url;
    writeClusterFile(home, cluster);
    const controllerArg = controllers.map((c) => c.url).join(',');
    if (netPlan) {
      cluster.net = { mode: 'bridged', id: netPlan.id, sites: [], hosts: [] };
      await createTopology(netPlan, cluster.net, () => writeClusterFile(home, cluster));
    }
    for (const [i, h] of hosts.entries()) {
      const dataDir = join(home, 'hosts', h.name);
      mkdirSync(dataDir, { recursive: true });
      const joinToken = join(dataDir, 'join-token');
      writeFileSync(joinToken, `${init.tokens[i]!.token}\n`, { mode: 0o600 });
      const args = ['agent', '--name', h.name, '--site', h.site, '--data-dir', dataDir, '--join', controllerArg, '--token-file', joinToken];
      const member = iso ? memberOf(iso, h.name) : undefined;
      if (member) args.push('--listen', member.address);
      if (o.accel) args.push('--accel', o.accel);
      if (o.netCapacity) args.push('--net-capacity', o.netCapacity);
      if (netPlan) args.push(...agentNetArgsFor(netPlan, h.name));
      const log = join(logs, `${h.name}.log`);
      cluster.agents.push({ name: h.name, site: h.site, pid: startDetached(args, log, member?.netns), dataDir, args, log, ...(member ? { netns: member.netns } : {}) });
      writeClusterFile(home, cluster);
    }
    await waitHosts(controllerClient(controllers.map((c) => c.url), token, init.caPem, { followMs: FOLLOW_LEADER_MS }), cluster.agents);
    // Spent: each agent is its certificate now.
    for (const a of cluster.agents) rmSync(join(a.dataDir, 'join-token'), { force: true });
  } catch (err) {
    await stopCluster(cluster, () => undefined).catch(() => undefined);
    // Keep cluster.json if part of the network is left, so that `ferry down` can retry.
    if (await removeNet(cluster)) rmSync(clusterFilePath(home), { force: true });
    throw err;
  }
  if (o.json) return printJson(cluster);
  process.stdout.write(
    [
      `Ferry cluster is up in ${home} (${cluster.agents.map((a) => `${a.name}@${a.site}`).join(', ')}).`,
      ...(cluster.controllers ? [`  ${cluster.controllers.length} controllers, one leading, state in PostgreSQL (${cluster.postgres?.dir}); ferry status lists them.`] : []),
      `  console:  ${cluster.url}/   (log in with the token below)`,
      `  token:    ${token}`,
      `The ferry CLI finds it through ${join(home, 'cluster.json')}; from elsewhere:`,
      `  export FERRY_URL=${(cluster.controllers ?? [cluster]).map((c) => c.url).join(',')} FERRY_TOKEN=${token} FERRY_CA=${join(home, 'ca.pem')}`,
      ...netLines(cluster),
      ...(cluster.isolated ? [`Each component runs in a network namespace of its own on ${cluster.isolated.subnet} (this machine is ${cluster.isolated.rootAddress}, on ${cluster.isolated.rootVeth}).`] : []),
      `Logs are in ${logs}. Stop it with: ferry down`,
      '',
    ].join('\n'),
  );
}

/** A cluster.json exists: if its controller runs, restart agents that are gone and stop. */
async function reuse(home: string, c: ClusterFile, o: UpOpts): Promise<void> {
  const api = controllerClient([c.url], c.token, c.ca);
  if (!isAliveRunning(c.controller.pid, 'ferry') || !(await answers(api))) {
    throw new UsageError(
      `${join(home, 'cluster.json')} names a controller (pid ${c.controller.pid}, ${c.url}) that is not running; run ferry down to clean up, then ferry up`,
      1,
    );
  }
  const mode = c.net?.mode ?? 'user';
  if (o.net && o.net !== mode) throw new UsageError(`the cluster in ${home} is up with --net ${mode}; run ferry down first to change it`);
  const gone = c.net ? await missingNetns(c.net) : [];
  if (gone.length > 0) {
    throw new UsageError(`network namespace${gone.length > 1 ? 's' : ''} ${gone.join(', ')} of the running cluster ${gone.length > 1 ? 'are' : 'is'} gone; run ferry down, then ferry up`, 1);
  }
  const restarted: AgentRecord[] = [];
  for (const a of c.agents) {
    if (isAliveRunning(a.pid, 'ferry') || !a.args) continue;
    a.pid = startDetached(a.args, a.log ?? join(home, 'logs', `${a.name}.log`), a.netns);
    restarted.push(a);
  }
  if (restarted.length > 0) {
    writeClusterFile(home, c);
    await waitHosts(api, restarted);
  }
  if (o.json) return printJson(c);
  const again = restarted.length > 0 ? `; restarted agent${restarted.length > 1 ? 's' : ''} ${restarted.map((a) => a.name).join(', ')}` : '';
  process.stdout.write(`A Ferry cluster is already up in ${home} at ${c.url}${again}.\n`);
}

/** Checks everything --net bridged needs before anything starts; the plan has a fresh id. */
async function planBridged(hosts: { name: string; site: string }[]): Promise<NetPlan> {
  const problem = bridgedProblem(hosts) ?? (await netnsSupport());
  if (problem) throw new UsageError(problem);
  return planNet(freeNetId(await listNetns()), hosts);
}

function agentNetArgsFor(plan: NetPlan, host: string): string[] {
  const h = plan.hosts.find((x) => x.host === host);
  const s = plan.sites.find((x) => x.site === h?.site);
  if (!h || !s) throw new Error(`host ${host} is not in the network plan`);
  return agentNetArgs(h, s);
}

/** After a failed start: delete the namespaces created so far. True when nothing is left. */
async function removeNet(c: ClusterFile): Promise<boolean> {
  if (c.isolated) {
    const failed = await deleteIsolated(c.isolated);
    if (failed.length > 0) {
      note(`ferry: could not remove the isolated network (${failed.join('; ')}); run ferry down`);
      return false;
    }
  }
  if (!c.net) return true;
  try {
    const problems = teardownProblems(await deleteTopology(c.net));
    if (problems.length === 0) return true;
    note(`ferry: could not remove the cluster network (${problems.join('; ')}); run ferry down`);
  } catch (err) {
    note(`ferry: could not remove the cluster network (${(err as Error).message}); run ferry down`);
  }
  return false;
}

function netLines(c: ClusterFile): string[] {
  if (!c.net) return [];
  const first = c.net.sites[0];
  const guest = first?.subnet.replace(/\.0\/\d+$/, '.10');
  return [
    `Guests on bridged NICs are reachable from their site's namespace (cluster net ${c.net.id}; ferry net show):`,
    ...c.net.sites.map((s) => `  ${s.site}: ${s.subnet}, gateway ${s.gateway}, namespace ${s.netns}`),
    ...(first ? [`  e.g. for a guest at ${guest}: ferry net exec ${first.site} -- curl http://${guest}/`] : []),
  ];
}

function writeSecret(path: string): string {
  if (!existsSync(path)) writeFileSync(path, newToken() + '\n', { mode: 0o600 });
  chmodSync(path, 0o600);
  return path;
}

/** `netns`: run it in that network namespace (`ip netns exec` execs it, so the pid is ferry's). */
function startDetached(args: string[], log: string, netns?: string): number {
  const fd = openSync(log, 'a', 0o600);
  try {
    const [cmd, argv] = netns ? ['ip', ['netns', 'exec', netns, process.execPath, BIN, ...args]] : [process.execPath, [BIN, ...args]];
    const child = spawn(cmd, argv, { detached: true, stdio: ['ignore', fd, fd], env: process.env });
    child.unref();
    if (child.pid === undefined) throw new UsageError(`could not start ferry ${args[0]} (see ${log})`, 1);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

async function answers(api: ApiClient): Promise<boolean> {
  try {
    await api.get<ClusterStatus>('/api/v1/status', { timeoutMs: 2000 });
    return true;
  } catch {
    return false;
  }
}

function logTail(log: string): string {
  try {
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    // Node's crash output ends with its version; the error line is the useful one.
    const last = [...lines].reverse().find((l) => /error/i.test(l)) ?? lines.at(-1);
    return last ? ` — last line: ${last.slice(0, 300)}` : '';
  } catch {
    return '';
  }
}

async function waitController(dataDir: string, pid: number, token: string, ca: string, log: string): Promise<string> {
  const deadline = Date.now() + CONTROLLER_START_MS;
  while (Date.now() < deadline) {
    if (!isAliveRunning(pid, 'ferry')) throw new UsageError(`the controller exited during start-up; see ${log}${logTail(log)}`, 1);
    try {
      const info = JSON.parse(readFileSync(join(dataDir, 'controller.json'), 'utf8')) as { pid?: number; url?: string };
      if (info.pid === pid && info.url && (await answers(controllerClient([info.url], token, ca)))) return info.url.replace(/\/$/, '');
    } catch {
      // not written yet
    }
    await sleep(200);
  }
  throw new UsageError(`the controller did not answer within ${CONTROLLER_START_MS / 1000} s; see ${log}${logTail(log)}`, 1);
}

async function waitHosts(api: ApiClient, agents: AgentRecord[]): Promise<void> {
  const deadline = Date.now() + HOSTS_UP_MS;
  let missing = agents;
  while (Date.now() < deadline) {
    const dead = agents.find((a) => !isAliveRunning(a.pid, 'ferry'));
    if (dead) throw new UsageError(`agent ${dead.name} exited during start-up; see ${dead.log}${logTail(dead.log ?? '')}`, 1);
    try {
      const hosts = await api.get<Host[]>('/api/v1/hosts', { timeoutMs: 2000 });
      missing = agents.filter((a) => !hosts.some((h) => h.name === a.name && h.state === 'up'));
      if (missing.length === 0) return;
    } catch {
      // controller busy; try again
    }
    await sleep(250);
  }
  const logs = missing.map((a) => a.log).join(', ');
  throw new UsageError(`host${missing.length > 1 ? 's' : ''} ${missing.map((a) => a.name).join(', ')} not up within ${HOSTS_UP_MS / 1000} s; see ${logs}`, 1);
}
