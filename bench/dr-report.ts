// The DR benchmark's result (its JSON), its tables, and its chart: bytes per checkpoint against
// their peers across the top; below, the RPO held against its target, the pause per checkpoint,
// the time to running of each switch, and the bytes of the switches against a full copy; last,
// the guest's HTTP service unprotected, protected and in zero-loss mode.
import type { IncrementalRow, QemuDirectRow } from './dr-incremental.js';
import { legend, panel, renderPng, svgDocument, text } from './chart.js';
import type { RsyncStats } from './dr-rsync.js';
import type { LoadResult } from './http-load.js';
import { median, table } from './lib.js';

export interface CkptRow {
  seq: number;
  /** takenAt minus the previous checkpoint's (undefined for the first). */
  intervalMs?: number;
  guestSeq?: number;
  /** What the guest dirtied since the previous checkpoint (its heartbeat's dirtied_mib). */
  dirtiedMiB?: number;
  /** 4 KiB pages expected to differ: S·(1−e^(−dirtied/S)) for random writes over a set of S MiB. */
  distinctMiB?: number;
  wireBytes: number;
  newBytes: number;
  fullBytes: number;
  rsync?: RsyncStats;
  pauseMs: number;
  durationMs: number;
}

export interface RpoRow {
  link: string;
  workload: string;
  setMiB: number;
  rpoMs: number;
  windowMs: number;
  /** Exact, from the checkpoint records. */
  maxAgeMs: number;
  /** The largest ageMs `ferry dr status` showed, polled every second. */
  polledMaxAgeMs: number;
  held: boolean;
  checkpoints: number;
  medianDurationMs: number;
  medianWireBytes: number;
  /** tx + rx of the protected host's namespace veth over the window. */
  linkBytesPerSec?: number;
  alarms: string[];
  error?: string;
}

export interface SwitchRow {
  kind: string;
  /** Who started it: the bench's command, or high availability by itself. */
  by: 'command' | 'ha';
  outcome: string;
  timeToRunningMs: number;
  dataWindowMs: number;
  checkpointSeq: number;
  wireBytes?: number;
  fullBytes: number;
  /** Site loss: the kill to the host marked down, and to the first heartbeat at the DR site. */
  killToDownMs?: number;
  killToRunningMs?: number;
  checks: string;
  error?: string;
}

/** Part 6: one condition (unprotected, an RPO, zero-loss) × one client mode, over the window. */
export interface HttpRow extends LoadResult {
  condition: string;
  /** As given to `ferry dr protect --rpo` (none: unprotected). */
  rpo?: string;
  /** Checkpoints committed within the row's span, their median durationMs, the median time between two commits. */
  checkpoints?: number;
  medianCheckpointMs?: number;
  medianCommitIntervalMs?: number;
}

export interface ZeroLossResult {
  vm: string;
  memoryMiB: number;
  workload: string;
  windowMs: number;
  /** Whether the guest's server keeps a connection open (a second GET on the first's socket), and its Connection header. */
  keepAlive?: { supported: boolean; connection: string };
  /** `ferry dr protect` to the first commit, per protected condition. */
  firstCommitMs: Record<string, number>;
  rows: HttpRow[];
  error?: string;
}

export interface DrResult {
  startedAt: string;
  quick: boolean;
  memoryMiB: number;
  diskMiB: number;
  workload: string;
  /** Part 1's (and part 2's) RPO, as given to `ferry dr protect --rpo`. */
  rpoTarget: string;
  setMiB?: number;
  /** rsync's version, when installed. */
  rsync?: string;
  checkpoints: CkptRow[];
  rpo: RpoRow[];
  switches: SwitchRow[];
  /** The first checkpoint home → DR after failback. */
  resync?: { wireBytes: number; newBytes: number; fullBytes: number };
  zeroLoss?: ZeroLossResult;
  /** Part 0 (issue 17): incremental checkpoints per VM size, and QEMU alone. */
  incremental?: { rows: IncrementalRow[]; qemu: QemuDirectRow[] };
  errors: string[];
}

const COLORS: Record<string, string> = {
  'guest dirtied': '#f39c12',
  'distinct est.': '#f8c471',
  'ferry wire': '#27ae60',
  'ferry new': '#82e0aa',
  'rsync -z': '#2980b9',
  'full copy': '#7f8c8d',
  'RPO target': '#7f8c8d',
  'max age': '#c0392b',
  'pause median': '#27ae60',
  'pause max': '#82e0aa',
  'from command': '#27ae60',
  'from site loss': '#c0392b',
  sequential: '#27ae60',
  'keep-alive': '#2980b9',
  concurrent: '#8e44ad',
  'sequential p50': '#27ae60',
  'sequential p90': '#82e0aa',
  'concurrent p50': '#8e44ad',
  'concurrent p90': '#c39bd3',
};
const color = (s: string): string => COLORS[s] ?? '#999';
const MiB = 1024 * 1024;
type Value = { v: number; failed: boolean } | undefined;
const val = (v: number | undefined, failed = false): Value => (v === undefined ? undefined : { v, failed });

export function buildDrSvg(r: DrResult): string {
  const W = 1200;
  const parts: string[] = [];
  let h = 0;
  if (r.checkpoints.length || r.rpo.length || r.switches.length) h = drPanels(r, W, parts);
  if (r.zeroLoss?.rows.length) h = zeroLossPanels(r.zeroLoss, W, h, parts);
  return svgDocument(W, h + 10, parts);
}

/** Parts 1–5; returns the height used. */
function drPanels(r: DrResult, W: number, parts: string[]): number {
  parts.push(text(W / 2, 26, `Disaster recovery: ${r.memoryMiB} MiB demo guest + ${r.diskMiB} MiB disk, ${r.workload}, TCG`, { size: 17, anchor: 'middle', weight: 'bold' }));
  const bytes = ['guest dirtied', 'distinct est.', 'ferry wire', 'ferry new', 'rsync -z', 'full copy'];
  parts.push(legend(40, 40, bytes, color, 190));
  const byCkpt = new Map(r.checkpoints.map((c) => [`#${c.seq}${c.intervalMs === undefined ? ' (first)' : ''}`, c]));
  parts.push(
    panel(0, 60, W, 300, 'Bytes per checkpoint (loopback)', 'MiB', [...byCkpt.keys()], bytes, (g, s) => {
      const c = byCkpt.get(g)!;
      const v = { 'guest dirtied': c.dirtiedMiB, 'distinct est.': c.distinctMiB, 'ferry wire': c.wireBytes / MiB, 'ferry new': c.newBytes / MiB, 'rsync -z': c.rsync && c.rsync.wireBytes / MiB, 'full copy': c.fullBytes / MiB }[s];
      return val(v);
    }, color),
  );
  const y = 400;
  const w = W / 4;
  const rpoSeries = ['RPO target', 'max age'];
  // Link and dirty rate (MiB/s) of each row.
  const rpoGroups = r.rpo.map((x) => `${x.link === 'loopback' ? 'lo' : 'tbf'} ${/^dirty:(\d+)/.exec(x.workload)?.[1] ?? x.workload}/s`);
  parts.push(legend(20, y - 24, rpoSeries, color, 120));
  parts.push(panel(0, y, w, 300, 'RPO held (link, dirty MiB/s)', 's', rpoGroups, rpoSeries, (g, s) => {
    const x = r.rpo[rpoGroups.indexOf(g)]!;
    return val((s === 'max age' ? x.maxAgeMs : x.rpoMs) / 1000, x.error !== undefined);
  }, color));
  const pauseSeries = ['pause median', 'pause max'];
  const pauses = r.checkpoints.map((c) => c.pauseMs);
  parts.push(legend(w + 20, y - 24, pauseSeries, color, 130));
  parts.push(panel(w, y, w, 300, 'Pause per checkpoint', 'ms', pauses.length ? ['loopback'] : [], pauseSeries, (_g, s) => val(s === 'pause max' ? Math.max(...pauses) : median(pauses)), color));
  const runSeries = ['from command', 'from site loss'];
  parts.push(legend(2 * w + 20, y - 24, runSeries, color, 130));
  parts.push(panel(2 * w, y, w, 300, 'Time to first heartbeat', 's', r.switches.map((s) => s.kind), runSeries, (g, s) => {
    const x = r.switches.find((k) => k.kind === g)!;
    const ms = s === 'from command' ? x.timeToRunningMs : x.killToRunningMs;
    return ms === undefined ? undefined : val(ms / 1000, x.outcome !== 'succeeded');
  }, color));
  const moves = r.switches.filter((s) => s.wireBytes !== undefined);
  parts.push(legend(3 * w + 20, y - 24, ['ferry wire', 'full copy'], color, 120));
  parts.push(panel(3 * w, y, w, 300, 'Switch bytes', 'MiB', moves.map((s) => s.kind), ['ferry wire', 'full copy'], (g, s) => {
    const x = moves.find((k) => k.kind === g)!;
    return val((s === 'full copy' ? x.fullBytes : x.wireBytes!) / MiB, x.outcome !== 'succeeded');
  }, color));
  return y + 300;
}

/** Part 6 below y0: throughput and latency per condition and client mode; returns the height used. */
function zeroLossPanels(z: ZeroLossResult, W: number, y0: number, parts: string[]): number {
  const zlColor = (s: string): string => color(s.replace(/^\d+ clients/, 'concurrent'));
  const conditions = [...new Set(z.rows.map((x) => x.condition))];
  const modes = [...new Set(z.rows.map((x) => x.mode))];
  const row = (c: string, m: string): HttpRow | undefined => z.rows.find((x) => x.condition === c && x.mode === m);
  parts.push(text(W / 2, y0 + 30, `Guest HTTP service: ${z.memoryMiB} MiB demo guest, ${z.workload}, TCG, loopback, ${(z.windowMs / 1000).toFixed(0)} s per row`, { size: 17, anchor: 'middle', weight: 'bold' }));
  const y = y0 + 70;
  parts.push(legend(20, y - 24, modes, zlColor, 130));
  parts.push(panel(0, y, W / 2, 300, 'Throughput', 'req/s', conditions, modes, (c, m) => {
    const x = row(c, m);
    return x && val(x.reqPerSec, x.requests === 0);
  }, zlColor));
  const lat = modes.flatMap((m) => [`${m} p50`, `${m} p90`]);
  parts.push(legend(W / 2 + 20, y - 24, lat, zlColor, 140));
  parts.push(panel(W / 2, y, W / 2, 300, 'Latency', 'ms', conditions, lat, (c, s) => {
    const x = row(c, s.replace(/ p\d+$/, ''));
    return x && val(s.endsWith('p50') ? x.latencyMs.p50 : x.latencyMs.p90, x.requests === 0);
  }, zlColor));
  return y + 300;
}

/** Writes BASE.svg and BASE.png; returns the PNG's path. */
export function renderDrChart(r: DrResult, base: string): Promise<string> {
  return renderPng(buildDrSvg(r), base);
}

const mib = (b: number | undefined): string => (b === undefined || Number.isNaN(b) ? '-' : (b / MiB).toFixed(1));
const sec = (ms: number | undefined): string => (ms === undefined || Number.isNaN(ms) ? '-' : (ms / 1000).toFixed(1));
const num = (v: number | undefined, digits = 1): string => (v === undefined || Number.isNaN(v) ? '-' : v.toFixed(digits));

export function printDr(r: DrResult): void {
  if (r.checkpoints.length) {
    console.log(`\n1. bytes per checkpoint: ${r.memoryMiB} MiB guest + ${r.diskMiB} MiB disk, ${r.workload} (distinct-set bound S = ${r.setMiB} MiB), RPO ${r.rpoTarget}, loopback`);
    console.log(table([
      ['seq', 'interval s', 'guest dirtied MiB', 'distinct est. MiB', 'ferry wire MiB', 'ferry new MiB', `rsync -z MiB`, 'full copy MiB', 'pause ms', 'duration s'],
      ...r.checkpoints.map((c) => [String(c.seq) + (c.intervalMs === undefined ? ' (first)' : ''), sec(c.intervalMs), num(c.dirtiedMiB, 0), num(c.distinctMiB, 0), mib(c.wireBytes), mib(c.newBytes), mib(c.rsync?.wireBytes), mib(c.fullBytes), num(c.pauseMs, 0), sec(c.durationMs)]),
    ]));
    console.log('   guest dirtied = difference of the heartbeat\'s dirtied_mib at the two checkpoints\' instants; distinct est. = S·(1−e^(−dirtied/S)), the 4 KiB pages');
    console.log('   expected to differ (the guest writes random pages of its set); ferry wire = CheckpointRecord.wireBytes (both directions, framing included);');
    console.log(`   ferry new = chunks the DR store did not hold; rsync -z = rsync ${r.rsync ?? '(not installed: apt-get install rsync)'} of the same files, checkpoint k onto k-1, sent + received;`);
    console.log('   full copy = memory + disk sizes the checkpoint stands for');
  }
  if (r.rpo.length) {
    console.log('\n2. RPO held (max age of the newest committed checkpoint over the window, exact from the records; polled = what `dr status` showed)');
    console.log(table([
      ['link', 'workload', 'set MiB', 'RPO s', 'window s', 'max age s', 'polled s', 'held', 'ckpts', 'median ckpt s', 'median wire MiB', 'link MiB/s', 'alarm'],
      ...r.rpo.map((x) => [x.link, x.workload, num(x.setMiB, 0), sec(x.rpoMs), sec(x.windowMs), sec(x.maxAgeMs), sec(x.polledMaxAgeMs), x.error ? 'FAILED' : x.held ? 'yes' : 'NO', String(x.checkpoints), sec(x.medianDurationMs), mib(x.medianWireBytes), mib(x.linkBytesPerSec), x.error ?? (x.alarms.join(' | ') || '-')]),
    ]));
  }
  const pauses = r.checkpoints.map((c) => c.pauseMs);
  if (pauses.length) {
    const durations = r.checkpoints.map((c) => c.durationMs);
    console.log('\n3. pause per checkpoint (stop → cont) next to the checkpoint\'s duration (capture start → commit at the DR host), part 1\'s checkpoints');
    console.log(table([
      ['checkpoints', 'pause median ms', 'pause max ms', 'duration median s', 'duration max s', 'pause / duration'],
      [String(pauses.length), num(median(pauses), 0), num(Math.max(...pauses), 0), sec(median(durations)), sec(Math.max(...durations)), `${((100 * median(pauses)) / median(durations)).toFixed(2)} %`],
    ]));
  }
  if (r.switches.length) {
    console.log('\n4./5. failover, DR test and failback (time to running = the command to the first guest heartbeat at the destination)');
    console.log(table([
      ['kind', 'by', 'outcome', 'time to running s', 'site loss → running s', 'host down after s', 'data window s', 'wire MiB', 'full copy MiB', 'checks'],
      ...r.switches.map((s) => [s.kind, s.by, s.outcome, sec(s.timeToRunningMs), sec(s.killToRunningMs), sec(s.killToDownMs), sec(s.dataWindowMs), mib(s.wireBytes), mib(s.fullBytes), s.checks]),
    ]));
    if (r.resync) console.log(`   protection after failback: the first checkpoint home → DR sent ${mib(r.resync.wireBytes)} MiB (${mib(r.resync.newBytes)} MiB new at the DR store) against a full copy of ${mib(r.resync.fullBytes)} MiB`);
    for (const s of r.switches.filter((x) => x.error)) console.log(`   ${s.kind}: ${s.error}`);
  }
  if (r.zeroLoss) printZeroLoss(r.zeroLoss);
}

const ms = (v: number): string => (Number.isNaN(v) ? '-' : v.toFixed(v < 100 ? 1 : 0));

function printZeroLoss(z: ZeroLossResult): void {
  console.log(`\n6. the guest's HTTP service (GET / on its forwarded port 80), unprotected, protected and in zero-loss mode: ${z.vm}, ${z.memoryMiB} MiB, ${z.workload}, loopback, closed loop for ${(z.windowMs / 1000).toFixed(0)} s per row`);
  if (z.rows.length) {
    console.log(table([
      ['condition', 'clients', 'req/s', 'answered', 'errors', 'p50 ms', 'p90 ms', 'max ms', 'ckpts in window', 'median ckpt s', 'commit every s'],
      ...z.rows.map((x) => [x.condition, x.mode, num(x.reqPerSec, x.reqPerSec < 10 ? 2 : 1), String(x.requests), String(x.errors), ms(x.latencyMs.p50), ms(x.latencyMs.p90), ms(x.latencyMs.max), x.checkpoints === undefined ? '-' : String(x.checkpoints), sec(x.medianCheckpointMs), sec(x.medianCommitIntervalMs)]),
    ]));
  }
  console.log('   sequential = one client, a fresh connection per request; N clients = N such clients at once; latency = request start (before connecting) to the last byte');
  if (z.keepAlive) console.log(`   keep-alive: ${z.keepAlive.supported ? 'supported, measured as its own row' : `not supported (the guest answers "Connection: ${z.keepAlive.connection}" and closes), so no keep-alive row`}`);
  const first = Object.entries(z.firstCommitMs);
  if (first.length) console.log(`   protect → first commit: ${first.map(([c, v]) => `${c} ${sec(v)} s`).join(', ')}`);
  for (const x of z.rows.filter((x) => x.rpo === '0' && x.medianCommitIntervalMs && x.requests)) {
    console.log(`   zero-loss, ${x.mode}: p50 latency = ${(x.latencyMs.p50 / x.medianCommitIntervalMs!).toFixed(1)} commit intervals`);
  }
  for (const x of z.rows.filter((x) => x.errors)) console.log(`   ${x.condition}, ${x.mode}: ${Object.entries(x.errorKinds).map(([e, n]) => `${n}× ${e}`).join('; ')}`);
  if (z.error) console.log(`   ERROR ${z.error}`);
}
