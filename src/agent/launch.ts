// Starting QEMU for a VM: pick loopback ports for its forwards, build the command line, run
// QEMU with -daemonize (it leaves our session; its foreground process exits 0 once the VM is
// set up, or non-zero with QEMU's own message), then connect QMP.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { symlinkSync, readlinkSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, basename } from 'node:path';
import { QmpClient } from '../qmp/index.js';
import { FerryError, type Endpoint } from '../contracts/index.js';
import { AgentAbortedError, QemuLaunchError, QemuTimeoutError } from './errors.js';
import { bridgedNics, type GuestTaps } from './guest-taps.js';
import { pollUntil, QMP_TIMEOUT_MS } from './qemu/monitor.js';
import { buildQemuArgs, QEMU_BINARY } from './qemu-command.js';
import { isOurQemu, killPid } from './proc.js';
import { readPidFile, type Accel } from './vm-dir.js';
import type { VmRuntime } from './vm-runtime.js';
import { log } from './log.js';

const START_TIMEOUT_MS = 60_000;
const MAX_STDERR_BYTES = 64 * 1024;
const MAX_SUN_PATH = 100;

export interface LaunchContext {
  accel: Accel;
  guestDir: string;
  /** The host's guest bridge, when it has one (bridged NICs). */
  taps?: GuestTaps;
  /**
   * Where user-mode forwards listen (`bind`) and the address reported for them (`shown`), which the
   * controller's service endpoints connect to. Default 127.0.0.1 for both (controller and agent on
   * one machine); an agent listening on a network address forwards on it.
   */
  forwards?: { bind: string; shown: string };
}

/** A free TCP port on `bind` (loopback by default). Another process may take it before QEMU binds it; rare, and QEMU then fails loudly. */
export function freeLoopbackPort(bind = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, bind, () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** A path we can connect() to: a short symlink to the VM dir when the real path is too long for sun_path. */
export function connectablePath(sockPath: string): string {
  if (Buffer.byteLength(sockPath) <= MAX_SUN_PATH) return sockPath;
  const dir = dirname(sockPath);
  const link = join(tmpdir(), `ferry-${createHash('sha256').update(dir).digest('hex').slice(0, 16)}`);
  try {
    if (readlinkSync(link) !== dir) throw new Error('stale');
  } catch {
    rmSync(link, { force: true });
    symlinkSync(dir, link);
  }
  return join(link, basename(sockPath));
}

/**
 * Connects to a VM's QMP socket, trying again until `timeoutMs` (the socket may not be listening
 * yet, or be between two QEMUs; nothing announces it). At the deadline the last failure is thrown.
 */
export async function connectQmp(sockPath: string, timeoutMs = QMP_TIMEOUT_MS, signal?: AbortSignal): Promise<QmpClient> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  const attempt = async (): Promise<QmpClient | undefined> => {
    try {
      return await QmpClient.connect(connectablePath(sockPath), { timeoutMs: Math.max(500, deadline - Date.now()), signal });
    } catch (err) {
      last = err;
      return undefined;
    }
  };
  try {
    return await pollUntil({ name: basename(dirname(sockPath)) }, 'QMP connect', attempt, { deadline, signal });
  } catch (err) {
    throw err instanceof QemuTimeoutError && last !== undefined ? last : err;
  }
}

interface Daemonized {
  code: number | null;
  stderr: string;
}

function runDaemonizing(args: string[], cwd: string, prefix: string[], signal?: AbortSignal): Promise<Daemonized> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AgentAbortedError('starting QEMU', signal.reason));
    const [file, ...argv] = [...prefix, QEMU_BINARY, ...args];
    const child = spawn(file!, argv, { cwd, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      if (stderr.length < MAX_STDERR_BYTES) stderr += s;
    });
    const fail = (err: Error): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (child.exitCode === null && child.pid) killPid(child.pid, 'SIGKILL');
      reject(err);
    };
    const timer = setTimeout(() => fail(new QemuLaunchError(`QEMU did not finish starting within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
    const onAbort = (): void => fail(new AgentAbortedError('starting QEMU', signal?.reason));
    signal?.addEventListener('abort', onAbort, { once: true });
    child.once('error', (err) => fail(new QemuLaunchError(`cannot run ${QEMU_BINARY}: ${err.message}`, err)));
    // 'close' waits for stderr too: the daemon keeps it until its set-up is done or has failed.
    child.once('close', (code) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve({ code, stderr });
    });
  });
}

export interface LaunchOptions {
  /** Start waiting for `migrate-incoming` (restore, migration target). */
  incoming?: boolean;
  /** Keep the guest stopped until `cont` (a migration target until its commit). */
  startPaused?: boolean;
  signal?: AbortSignal;
}

/** Starts QEMU for `vm` and attaches QMP. On return the VM runs (or waits for migrate-incoming). */
export async function launchQemu(ctx: LaunchContext, vm: VmRuntime, opts: LaunchOptions = {}): Promise<void> {
  const bridged = bridgedNics(vm.rec.spec).length > 0 && !vm.rec.isolated;
  if (bridged && !ctx.taps) throw new FerryError('INVALID_REQUEST', `vm ${vm.name} has a bridged NIC and this host has no guest bridge (ferry agent --guest-bridge)`);
  const taps = bridged ? ctx.taps : undefined;
  try {
    const names = taps ? await taps.ensure(vm) : [];
    await startQemu(ctx, vm, opts, Object.fromEntries(bridgedNics(vm.rec.spec).map((nic, j) => [nic, names[j]!])), taps?.execPrefix() ?? []);
    taps?.started(vm);
  } catch (err) {
    await taps?.release(vm);
    throw err;
  }
}

async function startQemu(ctx: LaunchContext, vm: VmRuntime, opts: LaunchOptions, taps: Record<number, string>, prefix: string[]): Promise<void> {
  const spec = vm.rec.spec;
  const hostPorts: number[][] = [];
  const endpoints: Endpoint[] = [];
  for (const nic of spec.nics) {
    const ports: number[] = [];
    for (const guestPort of nic.network === 'user' ? (nic.forwardPorts ?? []) : []) {
      const port = await freeLoopbackPort(ctx.forwards?.bind);
      ports.push(port);
      endpoints.push({ guestPort, host: ctx.forwards?.shown ?? '127.0.0.1', port });
    }
    hostPorts.push(ports);
  }
  const paths = vm.paths;
  rmSync(paths.pidFile, { force: true });
  const args = buildQemuArgs({ spec, vmDir: paths.dir, accel: ctx.accel, guestDir: ctx.guestDir, hostPorts, ...(ctx.forwards ? { forwardBind: ctx.forwards.bind } : {}), incoming: opts.incoming ?? false, startPaused: opts.startPaused ?? false, isolated: vm.rec.isolated ?? false, taps });
  log('vm %s: %s %s %s', spec.name, prefix.join(' '), QEMU_BINARY, args.join(' '));
  const { code, stderr } = await runDaemonizing(args, paths.dir, prefix, opts.signal);
  if (code !== 0) throw new QemuLaunchError(stderr.trim() || `QEMU exited with code ${code} before the VM was set up`);
  const pid = readPidFile(paths.pidFile);
  if (!isOurQemu(pid, spec.uuid)) throw new QemuLaunchError(`QEMU started but exited at once (pid ${pid ?? 'unknown'})${stderr ? `: ${stderr.trim()}` : ''}`);
  let qmp: QmpClient;
  try {
    qmp = await connectQmp(paths.qmpSock, QMP_TIMEOUT_MS, opts.signal);
  } catch (err) {
    killPid(pid, 'SIGKILL');
    if (err instanceof AgentAbortedError) throw err;
    throw new QemuLaunchError(`cannot connect to QMP of vm ${spec.name}: ${(err as Error).message}`, err);
  }
  vm.rec.accel = ctx.accel;
  vm.rec.endpoints = endpoints;
  vm.attach(qmp, pid);
}
