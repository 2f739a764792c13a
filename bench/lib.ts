// Helpers shared by the benchmarks: a throw-away cluster driven through the real CLI, and
// small measuring tools. Benchmarks print numbers; they never pass or fail on timings.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { ApiClient } from '../src/contracts/index.js';
import { lastHeartbeat, type Heartbeat } from '../src/contracts/heartbeat.js';
import { waitFor } from '../src/testing/wait-for.js';

const run = promisify(execFile);
export const REPO = resolve(import.meta.dirname, '../..');
const FERRY = join(REPO, 'bin/ferry.js');

export interface BenchCluster {
  home: string;
  api: ApiClient;
  info: { url: string; token: string; controller: { pid: number }; agents: { name: string; pid: number; dataDir: string }[] };
  ferry(...args: string[]): Promise<string>;
  down(): Promise<void>;
}

export async function startCluster(hosts: number, ...upArgs: string[]): Promise<BenchCluster> {
  const home = mkdtempSync(join(tmpdir(), 'ferry-bench-'));
  const env = { ...process.env, FERRY_HOME: home };
  const ferry = async (...args: string[]): Promise<string> => (await run(process.execPath, [FERRY, ...args], { env, maxBuffer: 64 << 20 })).stdout;
  await ferry('up', '--hosts', String(hosts), '--port', '0', '--accel', 'tcg', ...upArgs);
  const info = JSON.parse(readFileSync(join(home, 'cluster.json'), 'utf8')) as BenchCluster['info'];
  return {
    home,
    info,
    api: new ApiClient(info.url, info.token),
    ferry,
    down: async () => {
      await ferry('down').catch((err: Error) => console.error('ferry down failed:', err.message));
      rmSync(home, { recursive: true, force: true });
    },
  };
}

export function spawnFerry(home: string, ...args: string[]): Promise<void> {
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, [FERRY, ...args], { env: { ...process.env, FERRY_HOME: home }, stdio: 'ignore' });
    child.on('error', fail);
    child.on('exit', (code) => (code === 0 ? ok() : fail(new Error(`ferry ${args.join(' ')} exited ${code}`))));
  });
}

/** Resident memory of a process in MiB (VmRSS). */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) / 1024;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function table(rows: (string | number)[][]): string {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? c.toFixed(c < 10 ? 2 : 0) : c)));
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  return cells.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n');
}

/** Peak and first VmRSS (MiB) of some processes, sampled every `everyMs` until stopped. */
export function sampleRss(pids: number[], everyMs = 100): { stop(): { baseline: number[]; peak: number[]; samples: number } } {
  const read = (pid: number): number => {
    try {
      return rssMiB(pid);
    } catch {
      return NaN;
    }
  };
  const baseline = pids.map(read);
  const peak = [...baseline];
  let samples = 1;
  const timer = setInterval(() => {
    samples++;
    pids.forEach((pid, i) => {
      const v = read(pid);
      if (v > peak[i]!) peak[i] = v;
    });
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      return { baseline, peak, samples };
    },
  };
}

/** The guest's newest heartbeat once it has booted and is dirtying memory (`dirtied_mib > 0`). */
export function waitDirtying(read: () => string | Promise<string>, what: string, timeoutMs = 180_000): Promise<Heartbeat> {
  return waitFor(`${what}: a heartbeat with dirtied_mib > 0`, async () => {
    const b = lastHeartbeat(await read());
    if (b && b.seq >= 3 && Number(b.fields.dirtied_mib ?? 0) > 0) return b;
    throw new Error(`the last heartbeat is ${JSON.stringify(b)}`);
  }, { timeoutMs, everyMs: 500 });
}
