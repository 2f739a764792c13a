// Runs the real `ferry` CLI as child processes against a cluster in a temporary FERRY_HOME,
// and cleans up every process by PID afterwards, whatever happened.
import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findGuardPid, findQemuPids } from '../../src/agent/index.js';
import { writeClusterFile, type ClusterFile } from '../../src/cli/config.js';
import { isAlive, terminate } from '../../src/cli/process.js';
import { lastHeartbeat, type Heartbeat } from '../../src/contracts/heartbeat.js';
import { waitFor } from '../../src/testing/wait-for.js';
import { trustCa } from '../../src/testing/pki.js';

export const BIN = fileURLToPath(new URL('../../../bin/ferry.js', import.meta.url));

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export { lastHeartbeat, type Heartbeat };

export class TestCluster {
  readonly home = mkdtempSync(join(tmpdir(), 'ferry-e2e-'));
  /** Every PID cluster.json ever named, so `cleanup` can stop them even if `down` fails. */
  private readonly pids = new Set<number>();
  private readonly dataDirs = new Set<string>();

  env(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, FERRY_HOME: this.home };
    delete env.FERRY_URL;
    delete env.FERRY_TOKEN;
    delete env.FERRY_CA;
    return env;
  }

  run(args: string[], timeoutMs = 180_000): Promise<RunResult> {
    return new Promise((resolve) => {
      execFile(process.execPath, [BIN, ...args], { env: this.env(), timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
        this.remember();
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
        resolve({ code, stdout, stderr });
      });
    });
  }

  /** Run and insist on exit 0. */
  async ok(args: string[], timeoutMs?: number): Promise<string> {
    const r = await this.run(args, timeoutMs);
    if (r.code !== 0) throw new Error(`ferry ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
    return r.stdout;
  }

  async json<T>(args: string[]): Promise<T> {
    return JSON.parse(await this.ok([...args, '--json'])) as T;
  }

  /** The controller again (after a SIGKILL), on its old port and data dir, as `ferry up` started it; cluster.json names it. */
  async restartController(): Promise<void> {
    const file = this.clusterFile();
    const log = file.controller.log ?? join(this.home, 'logs', 'controller.log');
    const fd = openSync(log, 'a');
    try {
      const { hostname, port } = new URL(file.url);
      const args = [BIN, 'controller', '--data-dir', join(this.home, 'controller'), '--listen', hostname, '--port', port, '--token-file', join(this.home, 'admin-token')];
      const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', fd, fd], env: this.env() });
      child.unref();
      writeClusterFile(this.home, { ...file, controller: { ...file.controller, pid: child.pid! } });
      this.remember();
    } finally {
      closeSync(fd);
    }
    await waitFor('the restarted controller answers', async () => ((await this.run(['status'])).code === 0 ? true : undefined), { timeoutMs: 60_000, everyMs: 500 });
  }

  clusterFile(): ClusterFile {
    const c = JSON.parse(readFileSync(join(this.home, 'cluster.json'), 'utf8')) as ClusterFile;
    // The test's own fetch reaches the controller's HTTPS with the cluster CA pinned, as the CLI does.
    if (c.ca) trustCa(c.ca);
    return c;
  }

  remember(): void {
    if (!existsSync(join(this.home, 'cluster.json'))) return;
    try {
      const c = this.clusterFile();
      this.pids.add(c.controller.pid);
      for (const x of c.controllers ?? []) this.pids.add(x.pid);
      if (c.postgres) this.pids.add(c.postgres.pid);
      for (const a of c.agents) {
        this.pids.add(a.pid);
        this.dataDirs.add(a.dataDir);
      }
    } catch {
      // being rewritten; next time
    }
  }

  async heartbeat(vm: string): Promise<Heartbeat | undefined> {
    const r = await this.run(['vm', 'console', vm, '--tail', '4096']);
    return r.code === 0 ? lastHeartbeat(r.stdout) : undefined;
  }

  /** Wait until the VM's heartbeat is above `seq` (and return it). */
  waitBeat(vm: string, above: number, timeoutMs = 90_000): Promise<Heartbeat> {
    return waitFor(`${vm} heartbeat above seq=${above}`, async () => {
      const hb = await this.heartbeat(vm);
      return hb && hb.seq > above ? hb : undefined;
    }, { timeoutMs, everyMs: 1000 });
  }

  qemuPids(): number[] {
    return [...this.dataDirs].flatMap((d) => (existsSync(d) ? findQemuPids(d) : []));
  }

  /** The hosts' fence guards (each outlives its agent). */
  guardPids(): number[] {
    return [...this.dataDirs].flatMap((d) => findGuardPid(d) ?? []);
  }

  allPids(): number[] {
    return [...this.pids, ...this.guardPids(), ...this.qemuPids()];
  }

  /** `ferry down`, then SIGTERM/SIGKILL whatever survived, by PID; `beforeRemove` runs before the home goes. */
  async cleanup(beforeRemove?: () => void | Promise<void>): Promise<void> {
    this.remember();
    const before = this.allPids();
    await this.run(['down'], 120_000);
    await Promise.all([...new Set([...before, ...this.allPids()])].filter(isAlive).map((pid) => terminate(pid, 3000)));
    await beforeRemove?.();
    if (!process.env.FERRY_E2E_KEEP) rmSync(this.home, { recursive: true, force: true });
  }
}

/** Files named `name` under `dir` (the agent's layout is its own business). */
export function findFiles(dir: string, name: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const p = join(dir, entry);
    const st = statSync(p, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isDirectory()) out.push(...findFiles(p, name));
    else if (entry === name) out.push(p);
  }
  return out;
}
