// QEMU alone: two QEMU processes with the agent's own demo-guest command line (buildQemuArgs,
// so the guest is byte-for-byte the one Ferry runs), the destination with `-incoming defer`,
// and QMP `migrate` over direct TCP. Optionally multifd with compression on both sides, or
// QEMU's own mutually authenticated TLS with certificates from the project's PKI.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildQemuArgs, QEMU_BINARY } from '../src/agent/qemu-command.js';
import { QmpClient } from '../src/qmp/index.js';
import { withDefaults } from '../src/contracts/vm-spec.js';
import { createCa, createKeyAndCsr, signCsr } from '../src/pki/index.js';
import { REPO } from './lib.js';
import { lastHeartbeat, type Heartbeat } from '../src/contracts/heartbeat.js';

export const GUEST_DIR = join(REPO, 'build/guest');
/** "Without the bandwidth cap": QEMU's default max-bandwidth is 128 MiB/s. */
export const UNCAPPED_BYTES_PER_SEC = 10 * 1024 ** 3;

export interface QemuVm {
  pid: number;
  dir: string;
  qmp: QmpClient;
  console(): string;
  /** QEMU's own stderr/stdout. */
  log(): string;
  stop(): Promise<void>;
}

/** Start QEMU (foreground, so we hold its PID) in `ns` (undefined = this namespace). */
export async function startQemu(opts: { memoryMiB: number; workload: string; ns?: string; incoming?: boolean; uuid?: string }): Promise<QemuVm> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-qemu-'));
  mkdirSync(dir, { recursive: true });
  const spec = withDefaults({ name: 'bench', memoryMiB: opts.memoryMiB, workload: opts.workload }, opts.uuid ?? randomUUID());
  const args = buildQemuArgs({ spec, vmDir: dir, accel: 'tcg', guestDir: GUEST_DIR, hostPorts: [[]], incoming: opts.incoming ?? false }).filter((a) => a !== '-daemonize');
  const log = openSync(join(dir, 'qemu.log'), 'a');
  let child: ChildProcess;
  try {
    child = opts.ns
      ? spawn('ip', ['netns', 'exec', opts.ns, QEMU_BINARY, ...args], { cwd: dir, stdio: ['ignore', log, log] })
      : spawn(QEMU_BINARY, args, { cwd: dir, stdio: ['ignore', log, log] });
  } finally {
    closeSync(log);
  }
  const pid = child.pid!;
  let exited = false;
  child.on('exit', () => (exited = true));
  const stop = async (): Promise<void> => {
    if (!exited) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
      for (let i = 0; i < 50 && !exited; i++) await sleep(50);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    let qmp: QmpClient | undefined;
    for (let i = 0; i < 200 && !qmp; i++) {
      if (exited) throw new Error(`QEMU exited at start: ${readFileSync(join(dir, 'qemu.log'), 'utf8').slice(-400)}`);
      if (existsSync(join(dir, 'qmp.sock'))) qmp = await QmpClient.connect(join(dir, 'qmp.sock'), { timeoutMs: 5000 }).catch(() => undefined);
      if (!qmp) await sleep(50);
    }
    if (!qmp) throw new Error('QMP socket never answered');
    const q = qmp;
    return {
      pid,
      dir,
      qmp: q,
      console: () => {
        try {
          return readFileSync(join(dir, 'console.log'), 'utf8');
        } catch {
          return '';
        }
      },
      log: () => {
        try {
          return readFileSync(join(dir, 'qemu.log'), 'utf8');
        } catch {
          return '';
        }
      },
      stop: async () => {
        q.destroy();
        await stop();
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A free TCP port on loopback (for the destination's -incoming on the loopback link). */
export async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.on('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
  });
}

/** Compression methods this QEMU offers for multifd, best first (probed on a live QEMU). */
export async function multifdCompression(vm: QemuVm): Promise<string | undefined> {
  for (const c of ['zstd', 'zlib']) {
    try {
      await vm.qmp.executeRaw('migrate-set-parameters', { 'multifd-compression': c });
      await vm.qmp.executeRaw('migrate-set-parameters', { 'multifd-compression': 'none' });
      return c;
    } catch {
      // not built in
    }
  }
  return undefined;
}

/** A host's name (its certificate's CN and SAN DNS name) and its QEMU x509 creds directory. */
export interface TlsHost {
  name: string;
  dir: string;
}
export interface QemuTls {
  src: TlsHost;
  dst: TlsHost;
}

let credsRoot: string | undefined;
/**
 * QEMU's x509 creds for a source and a destination host from a throw-away CA of the project's
 * own PKI, one directory each in QEMU's layout: ca-cert.pem and the host's one certificate and
 * key as both server-* and client-*. The SAN carries the name, 127.0.0.1 and `ips`. All under
 * one temp directory (mkdtemp: mode 0700) removed when this process exits.
 */
export async function tlsCreds(src: { name: string; ips: string[] }, dst: { name: string; ips: string[] }): Promise<QemuTls> {
  if (!credsRoot) {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-tls-'));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    credsRoot = dir;
  }
  const root = credsRoot;
  const ca = await createCa('ferry-bench CA');
  const creds = async (h: { name: string; ips: string[] }): Promise<TlsHost> => {
    const dir = mkdtempSync(join(root, `${h.name}-`));
    const { keyPem, csrPem } = await createKeyAndCsr(h.name);
    const certPem = await signCsr(ca, csrPem, h.name, { ips: h.ips });
    const files = { 'ca-cert.pem': ca.certPem, 'server-cert.pem': certPem, 'client-cert.pem': certPem, 'server-key.pem': keyPem, 'client-key.pem': keyPem };
    for (const [f, pem] of Object.entries(files)) writeFileSync(join(dir, f), pem, { mode: 0o600 });
    return { name: h.name, dir };
  };
  return { src: await creds(src), dst: await creds(dst) };
}

/** TLS for one migration: the source checks the destination's name, the destination admits only the source's CN. */
async function setTls(src: QemuVm, dst: QemuVm, tls: QemuTls): Promise<void> {
  const creds = (endpoint: string, dir: string) => ({ 'qom-type': 'tls-creds-x509', id: 'tls0', dir, endpoint, 'verify-peer': true });
  await src.qmp.executeRaw('object-add', creds('client', tls.src.dir));
  await src.qmp.executeRaw('migrate-set-parameters', { 'tls-creds': 'tls0', 'tls-hostname': tls.dst.name });
  await dst.qmp.executeRaw('object-add', creds('server', tls.dst.dir));
  await dst.qmp.executeRaw('object-add', { 'qom-type': 'authz-simple', id: 'authz0', identity: `CN=${tls.src.name}` });
  await dst.qmp.executeRaw('migrate-set-parameters', { 'tls-creds': 'tls0', 'tls-authz': 'authz0' });
}

export interface QemuRunResult {
  ok: boolean;
  error?: string;
  totalMs: number;
  downtimeMs: number;
  wallMs: number;
  /** QEMU's ram.transferred (+ multifd bytes as QEMU counts them). */
  qemuTransferred: number;
  rounds: number;
  before?: Heartbeat;
  after?: Heartbeat;
}

interface MigrateInfo {
  status?: string;
  'total-time'?: number;
  downtime?: number;
  'error-desc'?: string;
  ram?: { transferred?: number; 'dirty-sync-count'?: number; 'multifd-bytes'?: number };
}

/** Migrate `src` into `dst` (started with incoming) over tcp:host:port, optionally in TLS; verify the guest at the destination. */
export async function qemuMigrate(src: QemuVm, dst: QemuVm, o: { host: string; port: number; multifd?: string; tls?: QemuTls; timeoutMs: number }): Promise<QemuRunResult> {
  const caps = [{ capability: 'events', state: true }, ...(o.multifd ? [{ capability: 'multifd', state: true }] : [])];
  for (const vm of [src, dst]) {
    await vm.qmp.executeRaw('migrate-set-capabilities', { capabilities: caps });
    if (o.multifd) await vm.qmp.executeRaw('migrate-set-parameters', { 'multifd-compression': o.multifd });
  }
  await src.qmp.executeRaw('migrate-set-parameters', { 'max-bandwidth': UNCAPPED_BYTES_PER_SEC });
  if (o.tls) await setTls(src, dst, o.tls);
  const uri = `tcp:${o.host}:${o.port}`;
  await dst.qmp.executeRaw('migrate-incoming', { uri });
  const before = lastHeartbeat(src.console());
  const t0 = performance.now();
  await src.qmp.executeRaw('migrate', { uri });
  let info: MigrateInfo;
  const deadline = Date.now() + o.timeoutMs;
  for (;;) {
    info = (await src.qmp.executeRaw('query-migrate')) as MigrateInfo;
    if (info.status === 'completed' || info.status === 'failed' || info.status === 'cancelled') break;
    if (Date.now() > deadline) {
      await src.qmp.executeRaw('migrate_cancel').catch(() => undefined);
      return { ok: false, error: `did not converge within ${o.timeoutMs / 1000} s (status ${info.status}, ${info.ram?.['dirty-sync-count'] ?? 0} rounds)`, totalMs: NaN, downtimeMs: NaN, wallMs: NaN, qemuTransferred: info.ram?.transferred ?? NaN, rounds: info.ram?.['dirty-sync-count'] ?? 0 };
    }
    await sleep(50);
  }
  // Polled exactly at completion QEMU sometimes reports total-time 0: ask again.
  for (let i = 0; i < 10 && info.status === 'completed' && !info['total-time']; i++) {
    await sleep(50);
    info = (await src.qmp.executeRaw('query-migrate')) as MigrateInfo;
  }
  if (info.status !== 'completed') {
    return { ok: false, error: `migration ${info.status}: ${info['error-desc'] ?? ''}`, totalMs: NaN, downtimeMs: NaN, wallMs: NaN, qemuTransferred: NaN, rounds: 0 };
  }
  // Wall time ends when the destination runs the guest.
  for (let i = 0; i < 400; i++) {
    const st = (await dst.qmp.executeRaw('query-status')) as { status: string };
    if (st.status === 'running') break;
    await sleep(25);
  }
  const wallMs = performance.now() - t0;
  const verdict = await verifyBeats(before, () => dst.console());
  return {
    ok: verdict.ok,
    ...(verdict.ok ? {} : { error: verdict.error }),
    totalMs: info['total-time'] ?? NaN,
    downtimeMs: info.downtime ?? NaN,
    wallMs,
    qemuTransferred: info.ram?.transferred ?? NaN,
    rounds: info.ram?.['dirty-sync-count'] ?? 0,
    ...(before ? { before } : {}),
    ...(verdict.after ? { after: verdict.after } : {}),
  };
}

/** The guest must keep beating at the destination, past the last beat seen before, with bad=0. */
export async function verifyBeats(before: Heartbeat | undefined, read: () => string | Promise<string>, timeoutMs = 20_000): Promise<{ ok: boolean; error?: string; after?: Heartbeat }> {
  const deadline = Date.now() + timeoutMs;
  let after: Heartbeat | undefined;
  while (Date.now() < deadline) {
    after = lastHeartbeat(await read());
    if (after && after.seq > (before?.seq ?? -1) + 1) break;
    await sleep(500);
  }
  if (!after || after.seq <= (before?.seq ?? -1)) return { ok: false, error: `no heartbeat at the destination after seq ${before?.seq}`, ...(after ? { after } : {}) };
  if (after.bad !== 0) return { ok: false, error: `guest memory check failed at the destination: bad=${after.bad}`, after };
  if (before?.fields.dirtied_mib !== undefined && Number(after.fields.dirtied_mib ?? 0) <= Number(before.fields.dirtied_mib)) return { ok: false, error: 'the guest stopped dirtying memory', after };
  return { ok: true, after };
}
