// A 2-host Ferry cluster for the benchmarks, driven through the real CLI: on loopback via
// `ferry up --hosts 2` (or `--sites main:1,dr:1`), or with each role in its own network namespace (bench/net.ts):
// controller in ns C, host1 (source) in ns A, host2 (target) in ns B, every one started with
// `ferry controller|agent --listen-host <its namespace address>`; the CLI runs in ns C.
// `down` stops every VM, then every process by PID (SIGTERM, then SIGKILL), whatever happened.
import { initController } from '../src/controller/index.js';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { findQemuPids } from '../src/agent/index.js';
import { isAlive, terminate } from '../src/cli/process.js';
import { REPO } from './lib.js';
import type { NsLink } from './net.js';

const FERRY = join(REPO, 'bin/ferry.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface MigCluster {
  home: string;
  /** PIDs of the agents of host1 (source) and host2 (target). */
  agents: { host1: number; host2: number };
  /** Their data directories. */
  dirs: { host1: string; host2: string };
  dataDirs: string[];
  /** The last lines of an agent's log that mention `needle` (for a failed run's report). */
  logTail(host: string, needle: string, lines?: number): string[];
  ferry(args: string[], timeoutMs?: number): Promise<CliResult>;
  down(): Promise<void>;
}

function cli(env: NodeJS.ProcessEnv, prefix: string[]) {
  return (args: string[], timeoutMs = 600_000): Promise<CliResult> =>
    new Promise((resolve) => {
      const argv = [...prefix, process.execPath, FERRY, ...args];
      execFile(argv[0]!, argv.slice(1), { env, timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
        resolve({ code, stdout, stderr });
      });
    });
}

async function stopAll(c: { ferry: MigCluster['ferry']; dataDirs: string[] }, pids: number[]): Promise<void> {
  // VMs outlive their agents by design: stop them first, then the processes, then any QEMU left.
  const list = await c.ferry(['vm', 'list', '--json'], 30_000);
  if (list.code === 0) {
    for (const vm of JSON.parse(list.stdout) as { name: string; state: string }[]) if (vm.state !== 'stopped') await c.ferry(['vm', 'stop', vm.name, '--force'], 60_000);
  }
  const qemus = c.dataDirs.flatMap((d) => (existsSync(d) ? findQemuPids(d) : []));
  await Promise.all([...pids, ...qemus].filter(isAlive).map((pid) => terminate(pid, 5000)));
  const left = c.dataDirs.flatMap((d) => (existsSync(d) ? findQemuPids(d) : []));
  await Promise.all(left.filter(isAlive).map((pid) => terminate(pid, 2000)));
}

/** Sites of host1 and host2: both `main` for migrations; `main` and `dr` for disaster recovery. */
export type Sites = { host1: string; host2: string };
const ONE_SITE: Sites = { host1: 'main', host2: 'main' };

export async function loopbackCluster(sites: Sites = ONE_SITE): Promise<MigCluster> {
  const home = mkdtempSync(join(tmpdir(), 'ferry-bench-mig-'));
  const env: NodeJS.ProcessEnv = { ...process.env, FERRY_HOME: home };
  delete env.FERRY_URL;
  delete env.FERRY_TOKEN;
  const ferry = cli(env, []);
  const pids = (): { ctl: number; agents: { name: string; pid: number; dataDir: string }[] } | undefined => {
    try {
      const j = JSON.parse(readFileSync(join(home, 'cluster.json'), 'utf8')) as { controller: { pid: number }; agents: { name: string; pid: number; dataDir: string }[] };
      return { ctl: j.controller.pid, agents: j.agents };
    } catch {
      return undefined;
    }
  };
  const hosts = sites.host1 === sites.host2 ? ['--sites', `${sites.host1}:2`] : ['--sites', `${sites.host1}:1,${sites.host2}:1`];
  const up = await ferry(['up', ...hosts, '--port', '0', '--accel', 'tcg'], 180_000);
  const p = pids();
  const dataDirs = p?.agents.map((a) => a.dataDir) ?? [];
  const down = async (): Promise<void> => {
    const q = pids();
    await ferry(['down'], 120_000);
    await stopAll({ ferry, dataDirs }, q ? [q.ctl, ...q.agents.map((a) => a.pid)] : []);
    rmSync(home, { recursive: true, force: true });
  };
  if (up.code !== 0 || !p) {
    await down();
    throw new Error(`ferry up failed: ${up.stderr.trim()}`);
  }
  const agent = (n: string) => p.agents.find((a) => a.name === n)!;
  return { home, agents: { host1: agent('host1').pid, host2: agent('host2').pid }, dirs: { host1: agent('host1').dataDir, host2: agent('host2').dataDir }, dataDirs, logTail: (h, n, l) => tail(join(home, 'logs', `${h}.log`), n, l), ferry, down };
}

/** Controller in ns C, host1 in ns A, host2 in ns B, each listening on its namespace's address. */
export async function namespaceCluster(link: NsLink, sites: Sites = ONE_SITE): Promise<MigCluster> {
  const home = mkdtempSync(join(tmpdir(), 'ferry-bench-ns-'));
  const token = randomBytes(24).toString('hex');
  const tokenFile = join(home, 'admin-token');
  writeFileSync(tokenFile, token + '\n', { mode: 0o600 });
  const procs: number[] = [];
  const dataDirs: string[] = [];
  const start = (ns: string, args: string[], log: string): number => {
    const fd = openSync(join(home, log), 'a');
    try {
      // DEBUG: the agents' migration log lines, quoted in the report of a failed run.
      const child = spawn('ip', ['netns', 'exec', ns, process.execPath, FERRY, ...args], { stdio: ['ignore', fd, fd], env: { DEBUG: 'ferry:agent*', ...process.env } });
      child.on('error', () => undefined);
      procs.push(child.pid!);
      return child.pid!;
    } finally {
      closeSync(fd);
    }
  };
  const env: NodeJS.ProcessEnv = { ...process.env, FERRY_HOME: home, FERRY_TOKEN: token };
  let ferry = cli(env, ['ip', 'netns', 'exec', link.ns.c]);
  const down = async (): Promise<void> => {
    await stopAll({ ferry, dataDirs }, procs);
    rmSync(home, { recursive: true, force: true });
  };
  try {
    const ctlDir = join(home, 'controller');
    mkdirSync(ctlDir);
    // As on separate machines: the CA and a join token per host first (ferry controller init).
    const init = await initController({ dataDir: ctlDir, tokens: 2 });
    writeFileSync(join(home, 'ca.pem'), init.caPem);
    env.FERRY_CA = join(home, 'ca.pem');
    const ctl = start(link.ns.c, ['controller', '--data-dir', ctlDir, '--listen', link.addr.c, '--port', '0', '--token-file', tokenFile], 'controller.log');
    let url = '';
    for (let i = 0; i < 300 && !url; i++) {
      try {
        const info = JSON.parse(readFileSync(join(ctlDir, 'controller.json'), 'utf8')) as { pid?: number; url?: string };
        if (info.pid === ctl && info.url) url = info.url.replace(/\/$/, '');
      } catch {
        // not yet
      }
      if (!url) await sleep(100);
    }
    if (!url) throw new Error(`controller did not start: ${readFileSync(join(home, 'controller.log'), 'utf8').slice(-500)}`);
    env.FERRY_URL = url;
    ferry = cli(env, ['ip', 'netns', 'exec', link.ns.c]);
    const agents = { host1: 0, host2: 0 };
    const dirs = { host1: join(home, 'hosts', 'host1'), host2: join(home, 'hosts', 'host2') };
    for (const [i, [name, side]] of ([['host1', 'a'], ['host2', 'b']] as const).entries()) {
      const dir = dirs[name];
      mkdirSync(dir, { recursive: true });
      dataDirs.push(dir);
      const joinToken = join(dir, 'join-token');
      writeFileSync(joinToken, `${init.tokens[i]!.token}\n`, { mode: 0o600 });
      agents[name] = start(link.ns[side], ['agent', '--name', name, '--site', sites[name], '--data-dir', dir, '--join', url, '--token-file', joinToken, '--listen', link.addr[side], '--accel', 'tcg'], `${name}.log`);
    }
    // Up, with a data endpoint (the host's certificate from its join).
    for (let i = 0; ; i++) {
      const r = await ferry(['host', 'list', '--json'], 10_000);
      const hosts = r.code === 0 ? (JSON.parse(r.stdout) as { name: string; state: string; dataUrl?: string }[]) : [];
      if (['host1', 'host2'].every((n) => hosts.some((h) => h.name === n && h.state === 'up' && (h.dataUrl === undefined || h.dataUrl.includes('10.213.'))))) break;
      if (i > 120) throw new Error(`hosts not up: ${r.stdout}${r.stderr}`);
      await sleep(500);
    }
    await sleep(3000);
    return { home, agents, dirs, dataDirs, logTail: (h, n, l) => tail(join(home, `${h}.log`), n, l), ferry: (a, t) => ferry(a, t), down };
  } catch (err) {
    await down();
    throw err;
  }
}

function tail(file: string, needle: string, lines = 4): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter((l) => l.includes(needle)).slice(-lines);
  } catch {
    return [];
  }
}
