// Benchmark (issue 4): disaster recovery, one run, each number next to a peer measured in the
// same run, on a two-site cluster (host1 in site main, host2 in site dr) driven through the CLI:
//   1. bytes per checkpoint: Ferry's wire bytes and the bytes new to the DR store, next to what
//      the guest dirtied (its heartbeat's dirtied_mib), a full copy (memory + disks) and rsync
//      of the same checkpoint files (dr-rsync.ts);
//   2. the RPO held: the oldest the newest checkpoint got against the RPO target, per dirty rate,
//      on a 100 Mbit/s tbf link between network namespaces (and on loopback, for part 1's VM);
//   3. the guest's pause per checkpoint, next to the checkpoint's duration;
//   4. failover command to the first heartbeat at the DR site: DR test, planned, unplanned (site
//      loss: the protected host's agent and QEMU killed; high availability or the command);
//   5. failback bytes against a full copy;
//   0. one incremental checkpoint (issue 17) per VM size (256 MiB and 2 GiB): end to end, pause,
//      the agents' CPU and wire bytes next to the pages the guest wrote and to QEMU's own
//      device-state-only save (x-ignore-shared) and full background snapshot (dr-incremental.ts);
//   6. the overhead of protection on the guest's HTTP service: a closed-loop client's requests/s
//      and latency, the same VM unprotected, protected with an RPO, and in zero-loss mode (its
//      answers wait for the checkpoints after them), next to the checkpoints committed meanwhile.
// Table, JSON and a PNG chart in build/bench/. Prints; never asserts.
//   node dist/bench/dr.js [--quick] [--only checkpoints,rpo,zeroloss] [--links loopback,tbf] [--checkpoints N]
//        [--workload dirty:R:S] [--rpo 30s] [--rates 2,8,16] [--rate-set MIB] [--window S] [--no-ha]
//        [--zl-window S] [--zl-clients N] [--zl-rpo 30s] [--out DIR]
//   node dist/bench/dr.js --chart build/bench/dr-….json   (re-draw a chart)
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { findQemuPids } from '../src/agent/index.js';
import type { Vm } from '../src/contracts/controller-api.js';
import type { CheckpointRecord, FailoverReport, Protection } from '../src/contracts/dr.js';
import { parseHeartbeats } from '../src/contracts/heartbeat.js';
import { printDr, renderDrChart, type DrResult, type HttpRow, type RpoRow, type SwitchRow, type ZeroLossResult } from './dr-report.js';
import { materialize, rsyncDelta, rsyncVersion } from './dr-rsync.js';
import { closedLoop, httpGet, keepAliveSupported } from './http-load.js';
import { ferryIncremental, printIncremental, qemuDirect, type IncrementalRow, type QemuDirectRow } from './dr-incremental.js';
import { median, REPO, waitDirtying } from './lib.js';
import { waitFor } from '../src/testing/wait-for.js';
import { loopbackCluster, namespaceCluster, type MigCluster } from './migration-cluster.js';
import { createLink, netnsAvailable, type NsLink } from './net.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    /** Parts: incremental (0), checkpoints (1, 3, 4, 5 on loopback), rpo (2 on the shaped link), zeroloss (6 on loopback). */
    only: { type: 'string', default: 'incremental,checkpoints,rpo,zeroloss' },
    /** Part 0: VM sizes in MiB. */
    sizes: { type: 'string', default: '256,2048' },
    links: { type: 'string', default: 'loopback,tbf' },
    checkpoints: { type: 'string' },
    workload: { type: 'string', default: 'dirty:4:64' },
    rpo: { type: 'string' },
    rates: { type: 'string', default: '2,8,16' },
    'rate-set': { type: 'string', default: '128' },
    /** Protect part 1's VM with --no-ha: the bench's command, not high availability, fails it over at site loss. */
    'no-ha': { type: 'boolean', default: false },
    window: { type: 'string', default: '90' },
    /** Part 6: seconds per condition and client mode; concurrent clients; the RPO of the protected (not zero-loss) condition. */
    'zl-window': { type: 'string' },
    'zl-clients': { type: 'string', default: '4' },
    'zl-rpo': { type: 'string', default: '30s' },
    out: { type: 'string', default: join(REPO, 'build/bench') },
    chart: { type: 'string' },
  },
});
const QUICK = values.quick;
const LINKS = QUICK ? ['loopback'] : values.links.split(',');
const ONLY = values.only.split(',');
/** Checkpoints after the first (full) one. */
const DELTAS = Number(values.checkpoints ?? (QUICK ? 1 : 5));
const RPO = values.rpo ?? (QUICK ? '15s' : '30s');
const MEMORY_MIB = 256;
const DISK_MIB = 64;
const VM = 'dr1';
const MiB = 1024 * 1024;
/** How long high availability may take to act on a dead host before the bench fails over by command. */
const HA_WAIT_MS = 60_000;
const ZL_VM = 'zl1';
/** The http workload gets its port 80 forwarded; the dirty one gives each checkpoint something to carry. */
const ZL_WORKLOAD = 'http,dirty:2:32';
const ZL_WINDOW_MS = Number(values['zl-window'] ?? (QUICK ? 20 : 60)) * 1000;
/** Per request; a zero-loss answer waits for two or three commits. */
const HTTP_TIMEOUT_MS = 120_000;

const stamp = (): string => new Date().toISOString().slice(11, 19);
const say = (s: string): void => void process.stderr.write(`[${stamp()}] ${s}\n`);

/** `ferry … --json`, parsed; a failed command that still printed JSON (a failed report) returns it. */
async function cli<T>(cl: MigCluster, args: string[], timeoutMs = 300_000): Promise<T> {
  const r = await cl.ferry([...args, '--json'], timeoutMs);
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`ferry ${args.join(' ')}: ${r.stderr.trim() || `exit ${r.code}`}`);
  }
}

const protection = async (cl: MigCluster, vm: string): Promise<Protection> => {
  const p = (await cli<Protection[]>(cl, ['dr', 'status'])).find((x) => x.vm === vm);
  if (!p) throw new Error(`vm ${vm} is not protected`);
  return p;
};
const records = async (cl: MigCluster, vm: string): Promise<CheckpointRecord[]> => (await cli<CheckpointRecord[]>(cl, ['dr', 'checkpoints', vm])).sort((a, b) => a.seq - b.seq);
const consoleText = async (cl: MigCluster, vm: string, tail?: number): Promise<string> => (await cl.ferry(['vm', 'console', vm, ...(tail ? ['--tail', String(tail)] : [])], 30_000)).stdout;

/** A VM with a local disk on host1, booted and dirtying memory; returns the working set in MiB. */
async function createVm(cl: MigCluster, name: string, workload: string): Promise<number> {
  await cli(cl, ['vm', 'create', name, '--memory', String(MEMORY_MIB), '--disk', `${DISK_MIB}M`, '--workload', workload, '--host', 'host1'], 180_000);
  const hb = await waitDirtying(() => consoleText(cl, name, 8192), name);
  return Number(hb.fields.set_mib);
}

/** Polls `ferry dr status` every second until `done`; the largest age it showed and every alarm. */
async function watch(cl: MigCluster, vm: string, done: (p: Protection) => boolean, timeoutMs: number): Promise<{ polledMaxAgeMs: number; alarms: string[]; p: Protection }> {
  const alarms = new Set<string>();
  let polledMaxAgeMs = 0;
  const p = await waitFor(`${vm}: checkpoints`, async () => {
    const p = await protection(cl, vm);
    if (p.lastCheckpoint && p.ageMs !== undefined) polledMaxAgeMs = Math.max(polledMaxAgeMs, p.ageMs);
    if (p.alarm) alarms.add(p.alarm.reason);
    return done(p) ? p : undefined;
  }, { timeoutMs, everyMs: 1000 });
  return { polledMaxAgeMs, alarms: [...alarms], p };
}

type RpoVm = Pick<RpoRow, 'link' | 'workload' | 'setMiB' | 'rpoMs'>;
interface RpoWindow {
  from: number;
  to: number;
  polledMaxAgeMs: number;
  alarms: string[];
  linkBytes?: number;
}

/**
 * The RPO row of a window: the exact largest age of the newest checkpoint, from the records (just
 * before each commit it was commit time − the previous one's takenAt; at the end, end − takenAt).
 */
function rpoRow(vm: RpoVm, recs: CheckpointRecord[], { from, to, polledMaxAgeMs, alarms, linkBytes }: RpoWindow): RpoRow {
  const inWindow = recs.filter((r) => Date.parse(r.committedAt) > from && Date.parse(r.committedAt) <= to);
  const ages = inWindow.map((r) => Date.parse(r.committedAt) - Date.parse(recs[recs.indexOf(r) - 1]?.takenAt ?? r.takenAt));
  const newest = recs.filter((r) => Date.parse(r.committedAt) <= to).at(-1);
  if (newest) ages.push(to - Date.parse(newest.takenAt));
  const maxAgeMs = Math.max(0, ...ages);
  return {
    ...vm, windowMs: to - from, maxAgeMs, polledMaxAgeMs, held: maxAgeMs <= vm.rpoMs, checkpoints: inWindow.length,
    medianDurationMs: inWindow.length ? median(inWindow.map((r) => r.durationMs)) : NaN,
    medianWireBytes: inWindow.length ? median(inWindow.map((r) => r.wireBytes)) : NaN,
    ...(linkBytes !== undefined ? { linkBytesPerSec: (linkBytes * 1000) / (to - from) } : {}),
    alarms,
  };
}

/** Part 1 (and 3): protect, take 1 + DELTAS checkpoints, and rsync each against the one before. */
async function checkpointsPart(cl: MigCluster, result: DrResult): Promise<void> {
  say(`part 1: ${VM} (${MEMORY_MIB} MiB, ${DISK_MIB} MiB disk, ${values.workload}), RPO ${RPO}, ${1 + DELTAS} checkpoints`);
  const setMiB = await createVm(cl, VM, values.workload);
  const p0 = await cli<Protection>(cl, ['dr', 'protect', VM, '--to', 'dr', '--rpo', RPO, '--keep', '1000', ...(values['no-ha'] ? ['--no-ha'] : [])]);
  const first = await watch(cl, VM, (p) => p.checkpoints >= 1, 600_000);
  const from = Date.now();
  const w = await watch(cl, VM, (p) => p.checkpoints >= 1 + DELTAS, 900_000);
  const to = Date.now();
  const recs = (await records(cl, VM)).slice(0, 1 + DELTAS);
  const dirtied = new Map(parseHeartbeats(await consoleText(cl, VM)).map((h) => [h.seq, Number(h.fields.dirtied_mib)]));
  result.checkpoints = recs.map((r, i) => {
    const prev = recs[i - 1];
    const d = prev?.guestSeq !== undefined && r.guestSeq !== undefined ? (dirtied.get(r.guestSeq) ?? NaN) - (dirtied.get(prev.guestSeq) ?? NaN) : undefined;
    return {
      seq: r.seq, intervalMs: prev ? Date.parse(r.takenAt) - Date.parse(prev.takenAt) : undefined, guestSeq: r.guestSeq,
      ...(d !== undefined && Number.isFinite(d) ? { dirtiedMiB: d, distinctMiB: setMiB * (1 - Math.exp(-d / setMiB)) } : {}),
      wireBytes: r.wireBytes, newBytes: r.newBytes, fullBytes: r.memoryBytes + r.diskBytes, pauseMs: r.pauseMs, durationMs: r.durationMs,
    };
  });
  result.setMiB = setMiB;
  const alarms = [...new Set([...first.alarms, ...w.alarms])];
  result.rpo.push(rpoRow({ link: 'loopback', workload: values.workload, setMiB, rpoMs: p0.rpoMs }, recs, { from, to, polledMaxAgeMs: Math.max(first.polledMaxAgeMs, w.polledMaxAgeMs), alarms }));
  if (!result.rsync) return;
  const store = join(cl.dirs.host2, 'dr-store');
  const tmp = mkdtempSync(join(tmpdir(), 'ferry-bench-rsync-'));
  try {
    // `at-dr` holds checkpoint k-1 as the DR site would; rsync brings it to k.
    await materialize(store, VM, recs[0]!.seq, join(tmp, 'at-dr'));
    for (const row of result.checkpoints.slice(1)) {
      say(`part 1: rsync of checkpoint ${row.seq} against ${row.seq - 1}`);
      await materialize(store, VM, row.seq, join(tmp, 'next'));
      row.rsync = await rsyncDelta(join(tmp, 'next'), join(tmp, 'at-dr'));
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function switchRow(kind: string, by: SwitchRow['by'], r: FailoverReport, fullBytes: number, extra: Partial<SwitchRow> = {}): SwitchRow {
  const failed = r.checks.filter((c) => !c.passed).map((c) => c.name);
  return {
    kind, by, outcome: r.outcome, timeToRunningMs: r.outcome === 'failed' && r.timeToRunningMs === 0 ? NaN : r.timeToRunningMs, dataWindowMs: r.dataWindowMs, checkpointSeq: r.checkpointSeq, fullBytes,
    ...(r.wireBytes !== undefined ? { wireBytes: r.wireBytes } : {}),
    checks: failed.length ? `failed: ${failed.join(', ')}` : `${r.checks.length} passed`,
    ...(r.error ? { error: `${r.error.code}: ${r.error.message}` } : {}), ...extra,
  };
}

function failedSwitch(kind: string, fullBytes: number, err: unknown): SwitchRow {
  return { kind, by: 'command', outcome: 'failed', timeToRunningMs: NaN, dataWindowMs: NaN, checkpointSeq: 0, fullBytes, checks: '-', error: (err as Error).message };
}

/** Part 4 (and 5): DR test, planned failover, failback, then site loss. */
async function switchesPart(cl: MigCluster, result: DrResult): Promise<void> {
  const full = (MEMORY_MIB + DISK_MIB) * MiB;
  const run = async (kind: string, args: string[]): Promise<SwitchRow> => {
    say(`part 4: ${kind}`);
    const row = await cli<FailoverReport>(cl, ['dr', ...args, VM]).then((r) => switchRow(kind, 'command', r, full), (err: unknown) => failedSwitch(kind, full, err));
    result.switches.push(row);
    return row;
  };
  await run('test', ['failover', '--test']);
  // A failed planned switch leaves the VM running at home; an operator would try again.
  if ((await run('planned', ['failover', '--planned'])).outcome !== 'succeeded') {
    await sleep(5000);
    await run('planned (retry)', ['failover', '--planned']);
  }
  await sleep(5000); // the VM runs at the DR site a while, so failback has something to carry
  await run('failback', ['failback']);
  try {
    // Home again, the protection syncs anew (its first checkpoint dedups against the DR store).
    say('part 4: waiting for a checkpoint from home');
    const w = await watch(cl, VM, (p) => p.state === 'failed-over' || (p.state !== 'syncing' && p.lastCheckpoint !== undefined), 600_000);
    if (w.p.state === 'failed-over') throw new Error(`${VM} did not come home: no site loss to measure`);
    if (result.switches.at(-1)?.outcome === 'succeeded') result.resync = { wireBytes: w.p.lastCheckpoint!.wireBytes, newBytes: w.p.lastCheckpoint!.newBytes, fullBytes: full };
    result.switches.push(await siteLoss(cl, w.p, full));
  } catch (err) {
    result.switches.push(failedSwitch('unplanned', full, err));
  }
}

/** Site loss: host1's agent and QEMU killed by PID; high availability fails over, or the command does. */
async function siteLoss(cl: MigCluster, p: Protection, full: number): Promise<SwitchRow> {
  const pids = [cl.agents.host1, ...findQemuPids(cl.dirs.host1)];
  say(`part 4: site loss: SIGKILL to host1's agent and QEMU (${pids.join(', ')})`);
  const t0 = Date.now();
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await waitFor('host1 down', async () => ((await cli<{ name: string; state: string }[]>(cl, ['host', 'list'])).find((h) => h.name === 'host1')?.state === 'down' ? true : undefined), { timeoutMs: 60_000, everyMs: 250 });
  const downMs = Date.now() - t0;
  const haReport = (): Promise<FailoverReport> =>
    waitFor('a failover by high availability', async () => (await cli<FailoverReport[]>(cl, ['dr', 'reports', VM])).find((r) => r.kind === 'unplanned' && Date.parse(r.startedAt) >= t0), { timeoutMs: HA_WAIT_MS, everyMs: 500 });
  const byCommand = async (): Promise<[SwitchRow['by'], FailoverReport]> => {
    try {
      return ['command', await cli<FailoverReport>(cl, ['dr', 'failover', VM])];
    } catch (err) {
      // Refused: high availability may have got there first.
      const ha = await haReport().catch(() => undefined);
      if (!ha) throw err;
      return ['ha', ha];
    }
  };
  const viaHa = p.ha ? await haReport().catch(() => undefined) : undefined;
  const [by, r] = viaHa ? (['ha', viaHa] as const) : await byCommand();
  return switchRow('unplanned', by, r, full, { killToDownMs: downMs, killToRunningMs: Date.parse(r.startedAt) + r.timeToRunningMs - t0 });
}

/** Part 2 on the shaped link: one VM per dirty rate, protected, watched for a window after its first checkpoint. */
async function rpoPart(cl: MigCluster, link: NsLink, result: DrResult): Promise<void> {
  for (const rate of values.rates.split(',').map(Number)) {
    const vm = `rpo-${rate}`;
    const workload = `dirty:${rate}:${values['rate-set']}`;
    say(`part 2: ${vm} (${workload}) over ${link.shaping}, RPO ${RPO}, window ${values.window} s`);
    try {
      const setMiB = await createVm(cl, vm, workload);
      const p0 = await cli<Protection>(cl, ['dr', 'protect', vm, '--to', 'dr', '--rpo', RPO, '--keep', '2']);
      await watch(cl, vm, (p) => p.checkpoints >= 1, 600_000);
      const from = Date.now();
      const b0 = await link.bytes();
      const w = await watch(cl, vm, () => Date.now() - from >= Number(values.window) * 1000, 900_000);
      const b1 = await link.bytes();
      const to = Date.now();
      const linkBytes = b1.tx + b1.rx - b0.tx - b0.rx;
      result.rpo.push(rpoRow({ link: 'tbf-100mbit', workload, setMiB, rpoMs: p0.rpoMs }, await records(cl, vm), { from, to, polledMaxAgeMs: w.polledMaxAgeMs, alarms: w.alarms, linkBytes }));
    } catch (err) {
      result.rpo.push({ link: 'tbf-100mbit', workload, setMiB: NaN, rpoMs: NaN, windowMs: NaN, maxAgeMs: NaN, polledMaxAgeMs: NaN, held: false, checkpoints: 0, medianDurationMs: NaN, medianWireBytes: NaN, alarms: [], error: (err as Error).message });
    } finally {
      await cl.ferry(['dr', 'unprotect', vm], 120_000);
      await cl.ferry(['vm', 'stop', vm, '--force'], 120_000);
      await cl.ferry(['vm', 'rm', vm], 120_000);
    }
  }
}

/** Checkpoints committed within [from, to]: how many, their median duration, the median time between two commits. */
function checkpointStats(recs: CheckpointRecord[], from: number, to: number): Pick<HttpRow, 'checkpoints' | 'medianCheckpointMs' | 'medianCommitIntervalMs'> {
  const commits = recs.filter((r) => Date.parse(r.committedAt) >= from && Date.parse(r.committedAt) <= to);
  const at = commits.map((r) => Date.parse(r.committedAt));
  return {
    checkpoints: commits.length,
    medianCheckpointMs: commits.length ? median(commits.map((r) => r.durationMs)) : NaN,
    medianCommitIntervalMs: at.length > 1 ? median(at.slice(1).map((t, i) => t - at[i]!)) : NaN,
  };
}

/**
 * Part 6: the guest's HTTP service, one VM, measured unprotected, protected with --zl-rpo, and in
 * zero-loss mode (unprotect, then protect with --rpo 0); each protected condition is measured
 * once its first checkpoint has committed. Per condition, each client mode for the window.
 */
async function zeroLossPart(cl: MigCluster, result: DrResult): Promise<void> {
  const clients = Number(values['zl-clients']);
  const z: ZeroLossResult = { vm: ZL_VM, memoryMiB: MEMORY_MIB, workload: ZL_WORKLOAD, windowMs: ZL_WINDOW_MS, firstCommitMs: {}, rows: [] };
  result.zeroLoss = z;
  say(`part 6: ${ZL_VM} (${MEMORY_MIB} MiB, ${ZL_WORKLOAD}): HTTP unprotected, RPO ${values['zl-rpo']}, zero-loss; ${ZL_WINDOW_MS / 1000} s per row`);
  try {
    await cli(cl, ['vm', 'create', ZL_VM, '--memory', String(MEMORY_MIB), '--workload', ZL_WORKLOAD, '--host', 'host1'], 180_000);
    await waitDirtying(() => consoleText(cl, ZL_VM, 8192), ZL_VM);
    const ep = (await cli<Vm>(cl, ['vm', 'show', ZL_VM])).endpoints.find((e) => e.guestPort === 80);
    if (!ep) throw new Error(`${ZL_VM} has no forward of its port 80`);
    const url = `http://${ep.host}:${ep.port}/`;
    await waitFor(`${ZL_VM}: an answer on ${url}`, async () => ((await httpGet(url, false, 10_000)).error === undefined ? true : undefined), { timeoutMs: 120_000, everyMs: 500 });
    z.keepAlive = await keepAliveSupported(url, 10_000);
    const modes = [
      { mode: 'sequential', clients: 1, keepAlive: false },
      ...(z.keepAlive.supported ? [{ mode: 'keep-alive', clients: 1, keepAlive: true }] : []),
      { mode: `${clients} clients`, clients, keepAlive: false },
    ];
    const measure = async (condition: string, rpo?: string): Promise<void> => {
      const rows: HttpRow[] = [];
      for (const m of modes) {
        say(`part 6: ${condition}, ${m.mode}`);
        const load = await closedLoop(url, { ...m, windowMs: ZL_WINDOW_MS, timeoutMs: HTTP_TIMEOUT_MS });
        rows.push({ condition, ...(rpo !== undefined ? { rpo } : {}), ...load });
      }
      // Read before unprotecting: that drops the records.
      const recs = rpo === undefined ? [] : await records(cl, ZL_VM);
      z.rows.push(...rows.map((x) => (rpo === undefined ? x : { ...x, ...checkpointStats(recs, x.from, x.to) })));
    };
    await measure('unprotected');
    for (const rpo of [values['zl-rpo'], '0']) {
      const condition = rpo === '0' ? 'zero-loss' : `RPO ${rpo}`;
      if (rpo === '0') {
        const r = await cl.ferry(['dr', 'unprotect', ZL_VM], 120_000);
        if (r.code !== 0) throw new Error(`ferry dr unprotect ${ZL_VM}: ${r.stderr.trim()}`);
      }
      say(`part 6: ferry dr protect ${ZL_VM} --to dr --rpo ${rpo}, waiting for its first commit`);
      const t0 = Date.now();
      await cli<Protection>(cl, ['dr', 'protect', ZL_VM, '--to', 'dr', '--rpo', rpo]);
      await watch(cl, ZL_VM, (p) => p.checkpoints >= 1, 600_000);
      z.firstCommitMs[condition] = Date.now() - t0;
      await measure(condition, rpo);
    }
  } catch (err) {
    z.error = (err as Error).message;
  } finally {
    await cl.ferry(['dr', 'unprotect', ZL_VM], 120_000);
    await cl.ferry(['vm', 'stop', ZL_VM, '--force'], 120_000);
    await cl.ferry(['vm', 'rm', ZL_VM], 120_000);
  }
}

async function main(): Promise<void> {
  const started = new Date();
  const result: DrResult = { startedAt: started.toISOString(), quick: QUICK, memoryMiB: MEMORY_MIB, diskMiB: DISK_MIB, workload: values.workload, rpoTarget: RPO, rpo: [], checkpoints: [], switches: [], errors: [] };
  if (ONLY.includes('incremental')) {
    const rows: IncrementalRow[] = [];
    const qemu: QemuDirectRow[] = [];
    for (const size of values.sizes.split(',').map(Number)) {
      say(`part 0: ${size} MiB`);
      await ferryIncremental(size, DELTAS, say).then((r) => rows.push(...r), (err: Error) => result.errors.push(`incremental ${size} MiB: ${err.message}`));
      await qemuDirect(size, 5).then((q) => qemu.push(q), (err: Error) => result.errors.push(`qemu alone ${size} MiB: ${err.message}`));
    }
    result.incremental = { rows, qemu };
    printIncremental(rows, qemu);
  }
  const rs = ONLY.includes('checkpoints') ? await rsyncVersion() : undefined;
  if (rs) result.rsync = rs;
  else if (ONLY.includes('checkpoints')) console.log('rsync is not installed (apt-get install rsync): the rsync column stays empty');
  const loopbackParts = ['zeroloss', 'checkpoints'].filter((p) => ONLY.includes(p));
  if (LINKS.includes('loopback') && loopbackParts.length) {
    const cl = await loopbackCluster({ host1: 'main', host2: 'dr' });
    try {
      // Part 6 first: site loss (part 4) leaves host1 dead. It cleans up after itself.
      if (ONLY.includes('zeroloss')) await zeroLossPart(cl, result);
      if (ONLY.includes('checkpoints')) {
        await checkpointsPart(cl, result);
        await switchesPart(cl, result);
      }
    } catch (err) {
      result.errors.push(`loopback: ${(err as Error).message}`);
    } finally {
      await cl.down();
    }
  }
  if (LINKS.includes('tbf') && ONLY.includes('rpo')) {
    const why = await netnsAvailable();
    let link: NsLink | undefined;
    let cl: MigCluster | undefined;
    try {
      if (why) throw new Error(why);
      link = await createLink('d');
      cl = await namespaceCluster(link, { host1: 'main', host2: 'dr' });
      await rpoPart(cl, link, result);
    } catch (err) {
      result.errors.push(`tbf-100mbit: ${(err as Error).message}`);
    } finally {
      await cl?.down();
      await link?.destroy();
    }
  }
  printDr(result);
  for (const e of result.errors) console.log(`ERROR ${e}`);
  mkdirSync(values.out, { recursive: true });
  const base = join(values.out, `dr-${started.toISOString().replace(/[:.]/g, '-')}`);
  writeFileSync(`${base}.json`, JSON.stringify(result, null, 2) + '\n');
  console.log(`\nJSON: ${base}.json`);
  console.log(`chart: ${await renderDrChart(result, base).catch((err: Error) => `not rendered: ${err.message}`)}`);
}

if (values.chart) console.log(`chart: ${await renderDrChart(JSON.parse(readFileSync(values.chart, 'utf8')) as DrResult, values.chart.replace(/\.json$/, ''))}`);
else await main();
