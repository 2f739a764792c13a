// How `ferry vm migrate` shows things: the live progress bar, a dry run's plan, a finished
// migration's summary and the list of records. Pure functions of the wire objects.
import type { Task } from '../contracts/controller-api.js';
import type { MigrationPlan, MigrationRecord } from '../contracts/migration.js';
import { bytes, duration, rate } from '../contracts/format.js';
import { formatFields, formatTable } from './output.js';

/** `[#########...........]  45% iterative-transfer: round 3, …, ETA 4 s` */
export function progressBar(task: Task, width = 24): string {
  const pct = Math.max(0, Math.min(100, task.progress));
  const full = Math.round((pct / 100) * width);
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}] ${String(Math.floor(pct)).padStart(3)}% ${task.message}`;
}

export function formatPlan(p: MigrationPlan): string {
  const head = `plan: ${p.vm} ${p.from} -> ${p.to}; memory ${bytes(p.memoryBytes)}, dirtying ${rate(p.dirtyRateBytesPerSec)}, link ${rate(p.linkBytesPerSec)}, rtt ${p.rttMs.toFixed(1)} ms, max downtime ${p.maxDowntimeMs} ms, transport ${p.transport}`;
  const rows = p.candidates.map((c) => [
    c.strategy === p.chosen.strategy ? `${c.strategy} *` : c.strategy,
    duration(c.predictedTotalMs),
    duration(c.predictedDowntimeMs),
    bytes(c.predictedWireBytes),
    c.meetsMaxDowntime ? 'yes' : 'no',
    c.why,
  ]);
  const table = formatTable(['STRATEGY', 'TOTAL', 'DOWNTIME', 'WIRE', 'MEETS', 'WHY'], rows);
  return `${head}\n${table}\nchosen: ${p.chosen.strategy}`;
}

export function formatRecord(r: MigrationRecord): string {
  const observed = r.observedDowntimeMs !== undefined ? `, ${duration(r.observedDowntimeMs)} observed` : ', not observed';
  return formatFields([
    ['migration', r.id],
    ['vm', `${r.vm}: ${r.from} -> ${r.to}`],
    ['outcome', r.outcome],
    ['strategy', `${r.strategy}${r.switchedToPostcopy ? ' (switched to post-copy)' : ''} over ${r.transport}`],
    ['downtime', `${duration(r.downtimeMs)} (QEMU)${observed}; predicted ${duration(r.predictedDowntimeMs)}`],
    ['total', `${duration(r.totalMs)}; predicted ${duration(r.predictedTotalMs)}`],
    ['memory', bytes(r.memoryBytes)],
    ['stream', bytes(r.streamBytes)],
    ['wire', bytes(r.wireBytes)],
    ['rounds', r.rounds],
    ['step', r.step],
    ['error', r.error ? `${r.error.message} (${r.error.code})` : undefined],
  ]);
}

export function formatRecords(list: readonly MigrationRecord[]): string {
  return formatTable(
    ['ID', 'VM', 'FROM', 'TO', 'STRATEGY', 'OUTCOME', 'DOWNTIME', 'OBSERVED', 'TOTAL', 'WIRE', 'STARTED'],
    list.map((r) => [r.id, r.vm, r.from, r.to, r.strategy, r.outcome, duration(r.downtimeMs), duration(r.observedDowntimeMs), duration(r.totalMs), bytes(r.wireBytes), r.startedAt]),
  );
}
