// Part 0 of the DR benchmark (issue 17): what one incremental checkpoint costs, per VM size, next
// to what the guest wrote and to QEMU's own cheapest incremental save measured directly.
//   Ferry: two in-process agents (the agent API the controller drives), the demo guest with a
//     64 MiB disk and `dirty:4:64`, one full checkpoint, then N more, each GAP_MS after the last
//     commit. Per checkpoint: end to end (send request → committed at the DR host), the guest's
//     pause, the agents' CPU (this process: both agents, their worker threads), bytes on the
//     wire, the 4 KiB pages the checkpoint found changed, and the guest's own count of what it
//     dirtied (its heartbeat's dirtied_mib between the two instants) with the distinct pages that
//     implies (random writes over the set S: S·(1−e^(−d/S))).
//   QEMU alone, same guest and size, RAM in a shared file: `stop`, `migrate` with x-ignore-shared
//     to a file (device state only), `cont` — the pause an incremental scheme cannot go below —
//     and a full background-snapshot + mapped-ram save (what a checkpoint of all RAM costs QEMU).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ApiClient, CheckpointProgress } from '../src/contracts/index.js';
import { parseHeartbeats } from '../src/contracts/heartbeat.js';
import { demoCmdline } from '../src/agent/qemu-command.js';
import { P, consoleOf, demoSpec, statusOf } from '../src/testing/agent.js';
import { waitFor } from '../src/testing/wait-for.js';
import { QmpClient } from '../src/qmp/index.js';
import { MigrationLab } from '../test/integration/migration-lab.js';
import { median, REPO, table, waitDirtying } from './lib.js';

const MiB = 1024 * 1024;
const WORKLOAD = 'dirty:4:64';
const SET_MIB = 64;
const GAP_MS = 2000;

export interface IncrementalRow {
  memoryMiB: number;
  seq: number;
  e2eMs: number;
  /** Send request → the capture done (memory file saved, disks read out): the rest is the transfer and commit. */
  captureMs: number;
  pauseMs: number;
  agentCpuMs: number;
  wireBytes: number;
  newBytes: number;
  changedBytes?: number;
  dirtiedMiB?: number;
  distinctEstMiB?: number;
}

export interface QemuDirectRow {
  memoryMiB: number;
  deviceStateMs: number;
  deviceStateBytes: number;
  fullSnapshotMs: number;
  fullSnapshotPauseMs: number;
}

const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

async function checkpoint(a: ApiClient, b: ApiClient, url: string, vm: string, seq: number): Promise<{ src: CheckpointProgress; dst: CheckpointProgress; e2eMs: number; capturedMs: number; agentCpuMs: number }> {
  const jobId = randomUUID();
  const status = await statusOf(a, vm);
  const c0 = cpuMs();
  const t0 = performance.now();
  await b.post<CheckpointProgress>(`${P}/dr/receive`, { jobId, vm, seq, sourceHost: 'h1', spec: status.spec, keep: 2 });
  await a.post<CheckpointProgress>(`${P}/dr/send`, { jobId, vm, seq, targetHost: 'h2', targetDataUrl: url });
  let capturedMs = NaN;
  const src = await waitFor(`checkpoint ${seq}`, async () => {
    const p = await a.get<CheckpointProgress>(`${P}/dr/jobs/${jobId}`);
    if (p.state !== 'capturing' && Number.isNaN(capturedMs)) capturedMs = performance.now() - t0;
    return p.state === 'committed' || p.state === 'failed' || p.state === 'aborted' ? p : undefined;
  }, { timeoutMs: 600_000, everyMs: 10 });
  const e2eMs = performance.now() - t0;
  const agentCpuMs = cpuMs() - c0;
  if (src.state !== 'committed') throw new Error(`checkpoint ${seq} ${src.state}: ${JSON.stringify(src.error)}`);
  const dst = await b.get<CheckpointProgress>(`${P}/dr/jobs/${jobId}`);
  return { src, dst, e2eMs, capturedMs, agentCpuMs };
}

const dirtiedAt = (text: string, seq: number | undefined): number | undefined => {
  const hb = parseHeartbeats(text).find((h) => h.seq === seq);
  return hb?.fields.dirtied_mib === undefined ? undefined : Number(hb.fields.dirtied_mib);
};

/** 1 + n checkpoints of a `memoryMiB` demo guest through two in-process agents. */
export async function ferryIncremental(memoryMiB: number, n: number, say: (s: string) => void): Promise<IncrementalRow[]> {
  const lab = new MigrationLab('ferry-bench-dr');
  const rows: IncrementalRow[] = [];
  try {
    const { a, b, targetDataUrl } = await lab.startPair();
    const vm = `inc${memoryMiB}`;
    await a.post(`${P}/vms`, demoSpec(vm, { memoryMiB, workload: WORKLOAD, disks: [{ sizeMiB: 64 }] }));
    await a.post(`${P}/vms/${vm}/start`);
    await waitDirtying(() => consoleOf(a, vm), vm);
    let prev = await checkpoint(a, b, targetDataUrl, vm, 1);
    say(`${vm}: first checkpoint ${Math.round(prev.e2eMs)} ms, ${(prev.src.wireBytes / MiB).toFixed(1)} MiB on the wire`);
    for (let seq = 2; seq <= n + 1; seq++) {
      await sleep(GAP_MS);
      const c = await checkpoint(a, b, targetDataUrl, vm, seq);
      const text = await consoleOf(a, vm);
      const d0 = dirtiedAt(text, prev.src.guestSeq);
      const d1 = dirtiedAt(text, c.src.guestSeq);
      const dirtiedMiB = d0 !== undefined && d1 !== undefined ? d1 - d0 : undefined;
      const changed = (c.src as CheckpointProgress & { changedBytes?: number }).changedBytes;
      rows.push({
        memoryMiB, seq, e2eMs: c.e2eMs, captureMs: c.capturedMs, pauseMs: c.src.pauseMs ?? NaN, agentCpuMs: c.agentCpuMs, wireBytes: c.src.wireBytes, newBytes: c.dst.newBytes,
        ...(changed !== undefined ? { changedBytes: changed } : {}),
        ...(dirtiedMiB !== undefined ? { dirtiedMiB, distinctEstMiB: SET_MIB * (1 - Math.exp(-dirtiedMiB / SET_MIB)) } : {}),
      });
      prev = c;
    }
    const hb = parseHeartbeats(await consoleOf(a, vm));
    if (hb.some((h) => h.bad !== 0)) throw new Error(`${vm}: the guest counted bad pages: ${JSON.stringify(hb.at(-1))}`);
  } finally {
    await lab.close();
  }
  return rows;
}

/** QEMU alone on the same guest with RAM in a shared file: device-state-only saves and one full background snapshot. */
export async function qemuDirect(memoryMiB: number, repeats: number): Promise<QemuDirectRow> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-qemu-'));
  const ramDir = mkdtempSync('/dev/shm/ferry-bench-ram-');
  const spec = demoSpec('q', { memoryMiB, workload: WORKLOAD });
  const guest = join(REPO, 'build/guest');
  const proc = spawn('qemu-system-x86_64', [
    '-nodefaults', '-no-user-config', '-display', 'none', '-machine', 'q35,memory-backend=ram0', '-accel', 'tcg', '-cpu', 'max', '-m', `${memoryMiB}M`,
    '-object', `memory-backend-file,id=ram0,size=${memoryMiB}M,mem-path=${join(ramDir, 'ram')},share=on`,
    '-qmp', `unix:${join(dir, 'qmp.sock')},server=on,wait=off`, '-serial', `file:${join(dir, 'console.log')}`,
    '-kernel', join(guest, 'vmlinuz'), '-initrd', join(guest, 'initrd.img'), '-append', demoCmdline(spec),
  ], { stdio: 'ignore' });
  try {
    await waitDirtying(() => readFileSync(join(dir, 'console.log'), 'utf8'), `qemu ${memoryMiB} MiB`);
    const q = await QmpClient.connect(join(dir, 'qmp.sock'));
    const ex = (cmd: string, args?: Record<string, unknown>): Promise<unknown> => q.executeRaw(cmd, args, { timeoutMs: 120_000 });
    const migrateTo = async (file: string): Promise<void> => {
      const done = q.waitForEvent('MIGRATION', { timeoutMs: 120_000, match: (ev) => ['completed', 'failed'].includes(String((ev.data as { status?: string } | undefined)?.status)) });
      await ex('migrate', { uri: `file:${file}` });
      const ev = await done;
      if ((ev.data as { status?: string }).status !== 'completed') throw new Error(`qemu: migrate to ${file} failed`);
    };
    const caps = (on: string[], off: string[]): Promise<unknown> => ex('migrate-set-capabilities', { capabilities: [...on.map((c) => ({ capability: c, state: true })), ...off.map((c) => ({ capability: c, state: false }))] });
    await ex('migrate-set-parameters', { 'max-bandwidth': 10 * 1024 ** 3 });
    await caps(['events', 'x-ignore-shared'], ['background-snapshot', 'mapped-ram']);
    const times: number[] = [];
    let bytes = 0;
    for (let i = 0; i < repeats; i++) {
      const file = join(dir, `dev${i}`);
      const t0 = performance.now();
      await ex('stop');
      await migrateTo(file);
      await ex('cont');
      times.push(performance.now() - t0);
      bytes = statSync(file).size;
      rmSync(file);
      await sleep(500);
    }
    // A full snapshot of a RAM file is not ignored only without x-ignore-shared.
    await caps(['events', 'background-snapshot', 'mapped-ram'], ['x-ignore-shared']);
    const file = join(dir, 'full');
    const t0 = performance.now();
    await ex('stop');
    const started = q.waitForEvent('MIGRATION', { timeoutMs: 120_000, match: (ev) => (ev.data as { status?: string } | undefined)?.status === 'active' });
    const done = migrateTo(file);
    await started;
    // As the agent does (memory-file.ts): RAM is write-protected once QEMU counts pages.
    for (;;) {
      const info = await ex('query-migrate') as { status?: string; ram?: { normal?: number; duplicate?: number } };
      if (info.status !== 'active' || (info.ram?.normal ?? 0) + (info.ram?.duplicate ?? 0) > 0) break;
      await sleep(2);
    }
    await ex('cont');
    const pause = performance.now() - t0;
    await done;
    const full = performance.now() - t0;
    await q.close();
    return { memoryMiB, deviceStateMs: median(times), deviceStateBytes: bytes, fullSnapshotMs: full, fullSnapshotPauseMs: pause };
  } finally {
    if (proc.pid !== undefined && proc.exitCode === null) proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    rmSync(ramDir, { recursive: true, force: true });
  }
}

export function printIncremental(rows: IncrementalRow[], qemu: QemuDirectRow[]): void {
  const f1 = (x: number | undefined): string => (x === undefined || Number.isNaN(x) ? '-' : x.toFixed(1));
  const mib = (x: number | undefined): string => (x === undefined ? '-' : (x / MiB).toFixed(1));
  console.log(`\n0. one incremental checkpoint: demo guest + 64 MiB disk, ${WORKLOAD}, ${GAP_MS / 1000} s between checkpoints, two in-process agents on loopback`);
  console.log(table([
    ['VM MiB', 'seq', 'end to end ms', 'capture ms', 'pause ms', 'agent CPU ms', 'wire MiB', 'new at DR MiB', 'changed pages MiB', 'guest dirtied MiB', 'distinct est. MiB', 'wire / distinct'],
    ...rows.map((r) => [r.memoryMiB, String(r.seq), Math.round(r.e2eMs), Math.round(r.captureMs), r.pauseMs, Math.round(r.agentCpuMs), mib(r.wireBytes), mib(r.newBytes), mib(r.changedBytes), f1(r.dirtiedMiB), f1(r.distinctEstMiB),
      r.distinctEstMiB ? (r.wireBytes / MiB / r.distinctEstMiB).toFixed(2) : '-']),
  ]));
  for (const size of [...new Set(rows.map((r) => r.memoryMiB))]) {
    const rs = rows.filter((r) => r.memoryMiB === size);
    console.log(`   ${size} MiB: median end to end ${Math.round(median(rs.map((r) => r.e2eMs)))} ms, pause ${median(rs.map((r) => r.pauseMs))} ms, agent CPU ${Math.round(median(rs.map((r) => r.agentCpuMs)))} ms, wire ${(median(rs.map((r) => r.wireBytes)) / MiB).toFixed(1)} MiB`);
  }
  console.log('\n   QEMU alone, RAM in a shared file (memory-backend-file share=on):');
  console.log(table([
    ['VM MiB', 'stop + device state (x-ignore-shared) + cont ms', 'device state KiB', 'full background snapshot ms', 'its pause ms'],
    ...qemu.map((q) => [q.memoryMiB, q.deviceStateMs.toFixed(1), Math.round(q.deviceStateBytes / 1024), Math.round(q.fullSnapshotMs), Math.round(q.fullSnapshotPauseMs)]),
  ]));
}

/** `node dist/bench/dr-incremental.js [--sizes 256,2048] [--checkpoints N]`: part 0 alone. */
async function main(): Promise<void> {
  const arg = (name: string, dflt: string): string => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] ?? dflt : dflt;
  };
  const sizes = arg('sizes', '256,2048').split(',').map(Number);
  const n = Number(arg('checkpoints', '4'));
  const say = (s: string): void => void process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${s}\n`);
  const rows: IncrementalRow[] = [];
  const qemu: QemuDirectRow[] = [];
  for (const size of sizes) {
    say(`ferry, ${size} MiB`);
    rows.push(...await ferryIncremental(size, n, say));
    say(`qemu alone, ${size} MiB`);
    await qemuDirect(size, 5).then((q) => qemu.push(q), (err: Error) => say(`qemu alone, ${size} MiB: ${err.message}`));
  }
  printIncremental(rows, qemu);
}

if (process.argv[1]?.endsWith('dr-incremental.js')) {
  main().then(() => process.exit(0), (err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
