// Benchmark (issue 2): time from `ferry vm start` to the guest's first heartbeat, next to the
// same QEMU command launched by hand, in the same run, as a ratio; and the resident memory of
// an agent and of the controller, idle and with 10 running VMs.
//   node dist/bench/startup.js [--runs N] [--vms N]
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { findQemuPids } from '../src/agent/index.js';
import { lastHeartbeat, type Vm } from '../src/contracts/index.js';
import { median, rssMiB, spawnFerry, startCluster, table } from './lib.js';
import { waitFor } from '../src/testing/wait-for.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, vms: { type: 'string', default: '10' } } });
const RUNS = Number(values.runs);
const VMS = Number(values.vms);

// Ten idle guests on one 2-core host need more vCPU overcommit than the default 4×.
const cluster = await startCluster(1, '--cpu-overcommit', '8');
const agent = cluster.info.agents[0]!;
try {
  await new Promise((r) => setTimeout(r, 3000));
  const idle = { agent: rssMiB(agent.pid), controller: rssMiB(cluster.info.controller.pid) };

  await cluster.ferry('vm', 'create', 'boot0', '--memory', '128', '--no-start');
  const viaFerry: number[] = [];
  const byHand: number[] = [];
  let qemuArgv: string[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    const started = spawnFerry(cluster.home, 'vm', 'start', 'boot0');
    await waitFor('first heartbeat via ferry', async () => {
      const text = await cluster.api.get<string>('/api/v1/vms/boot0/console?tailBytes=65536', { text: true }).catch(() => '');
      return lastHeartbeat(text) !== undefined ? true : undefined;
    }, { timeoutMs: 120_000, everyMs: 20 });
    viaFerry.push(performance.now() - t0);
    await started;
    qemuArgv = readCmdline(findQemuPids(agent.dataDir)[0]!);
    await cluster.ferry('vm', 'stop', 'boot0', '--force');
    // The console log is appended across boots: clear it so the next run sees only its own boot.
    rmSync(join(agent.dataDir, 'vms/boot0/console.log'), { force: true });
    byHand.push(await bootByHand(qemuArgv, join(agent.dataDir, 'vms/boot0')));
  }

  for (let i = 0; i < VMS; i++) await cluster.ferry('vm', 'create', `idle${i}`, '--memory', '128', '--workload', 'idle');
  await waitFor('all VMs heartbeating', async () => {
    const vms = await cluster.api.get<Vm[]>('/api/v1/vms');
    return vms.filter((v) => v.state === 'running').length >= VMS ? true : undefined;
  }, { timeoutMs: 600_000, everyMs: 500 });
  await new Promise((r) => setTimeout(r, 5000));
  const busy = { agent: rssMiB(agent.pid), controller: rssMiB(cluster.info.controller.pid) };

  const f = median(viaFerry);
  const h = median(byHand);
  console.log(`\nstart → first heartbeat (median of ${RUNS}, ms; 128 MiB demo guest, TCG)`);
  console.log(table([['path', 'median', 'runs'], ['ferry vm start', f, viaFerry.map((x) => x.toFixed(0)).join(' ')], ['same QEMU by hand', h, byHand.map((x) => x.toFixed(0)).join(' ')], ['ratio ferry/hand', f / h, '']]));
  console.log(`\nresident memory (MiB)`);
  console.log(table([['process', 'idle', `${VMS} running VMs`], ['agent', idle.agent, busy.agent], ['controller', idle.controller, busy.controller]]));
} finally {
  await cluster.down();
}

function readCmdline(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
}

/** Launch the exact QEMU command the agent used (same flags, -daemonize included), with its
 *  per-VM paths moved to a temp dir that is also its working directory (sockets are relative). */
async function bootByHand(argv: string[], vmDir: string): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-byhand-'));
  const args = argv.slice(1).map((a) => a.split(vmDir).join(dir));
  const exe = existsSync(argv[0]!) ? argv[0]! : 'qemu-system-x86_64';
  const t0 = performance.now();
  const child = spawn(exe, args, { cwd: dir, stdio: 'ignore' });
  try {
    await waitFor('first heartbeat by hand', () => {
      const log = join(dir, 'console.log');
      return existsSync(log) && lastHeartbeat(readFileSync(log, 'utf8')) !== undefined ? true : undefined;
    }, { timeoutMs: 120_000, everyMs: 20 });
    return performance.now() - t0;
  } finally {
    child.kill('SIGKILL');
    const pidFile = join(dir, 'qemu.pid');
    if (existsSync(pidFile)) {
      try {
        process.kill(Number(readFileSync(pidFile, 'utf8').trim()), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await new Promise((r) => setTimeout(r, 200));
    rmSync(dir, { recursive: true, force: true });
  }
}
