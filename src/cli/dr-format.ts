// How `ferry dr …` shows things: the protections table (`dr status`), checkpoint records, and
// failover reports. Pure functions of the wire objects (src/contracts/dr.ts).
import type { CheckpointRecord, FailoverReport, Protection, ScrubReport } from '../contracts/dr.js';
import { bytes, duration, mib, rate } from '../contracts/format.js';
import { formatFields, formatTable } from './output.js';

/** `hostOf`: where each VM runs now (from the VM records), to show the source host. */
export function formatProtections(list: readonly Protection[], hostOf: (vm: string) => string | undefined = () => undefined): string {
  return formatTable(
    ['VM', 'FROM', 'TO', 'RPO', 'AGE', 'STATE', 'CHECKPOINTS', 'SENT', 'ALARM'],
    list.map((p) => {
      const host = p.state === 'failed-over' ? undefined : hostOf(p.vm);
      return [p.vm, host ? `${p.fromSite}/${host}` : p.fromSite, `${p.toSite}/${p.targetHost}`, duration(p.rpoMs), duration(p.ageMs), p.state, p.checkpoints, bytes(p.bytesSent), p.alarm?.reason ?? (p.lastError ? `last attempt failed: ${p.lastError.message}` : undefined)];
    }),
  );
}

export function protectionLine(p: Protection): string {
  return `dr ${p.vm}: ${p.state}, ${p.fromSite} -> ${p.toSite} (host ${p.targetHost}), RPO ${duration(p.rpoMs)}, keeping ${p.keep}${p.bandwidthBytesPerSec ? `, capped at ${rate(p.bandwidthBytesPerSec)}` : ''}`;
}

export function formatCheckpoints(list: readonly CheckpointRecord[]): string {
  return formatTable(
    ['SEQ', 'TAKEN', 'HOST', 'PAUSE', 'DURATION', 'MEMORY', 'DISKS', 'WIRE', 'NEW', 'GUEST SEQ'],
    list.map((c) => [c.seq, c.takenAt, c.host, duration(c.pauseMs), duration(c.durationMs), bytes(c.memoryBytes), bytes(c.diskBytes), bytes(c.wireBytes), bytes(c.newBytes), c.guestSeq]),
  );
}

const KIND: Record<FailoverReport['kind'], string> = { unplanned: 'unplanned failover', planned: 'planned failover', test: 'DR test', failback: 'failback' };

export function formatReport(r: FailoverReport): string {
  const fields = formatFields([
    ['report', r.id],
    ['vm', `${r.vm}: ${KIND[r.kind]} ${r.from} -> ${r.to}`],
    ['outcome', r.outcome],
    ['checkpoint', r.checkpointSeq > 0 ? r.checkpointSeq : undefined],
    ['data window', duration(r.dataWindowMs)],
    ['to running', duration(r.timeToRunningMs)],
    ['wire', r.wireBytes !== undefined ? bytes(r.wireBytes) : undefined],
    ['error', r.error ? `${r.error.message} (${r.error.code})` : undefined],
    ['started', r.startedAt],
    ['finished', r.finishedAt],
  ]);
  const checks = r.checks.map((c) => `  ${c.passed ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`);
  return checks.length > 0 ? `${fields}\nchecks:\n${checks.join('\n')}` : fields;
}

export function formatReports(list: readonly FailoverReport[]): string {
  return formatTable(
    ['ID', 'VM', 'KIND', 'OUTCOME', 'FROM', 'TO', 'CHECKPOINT', 'DATA WINDOW', 'TO RUNNING', 'CHECKS', 'STARTED'],
    list.map((r) => [r.id, r.vm, r.kind, r.outcome, r.from, r.to, r.checkpointSeq || undefined, duration(r.dataWindowMs), duration(r.timeToRunningMs), `${r.checks.filter((c) => c.passed).length}/${r.checks.length}`, r.startedAt]),
  );
}

export function formatScrub(host: string, r: ScrubReport): string {
  const lines = [`${host}: ${r.chunks} chunks (${mib(r.bytes)}) verified; ${r.corrupt.length} corrupt or missing`];
  for (const id of r.corrupt) lines.push(`  corrupt: ${id}`);
  for (const d of r.damaged) lines.push(`  damaged: ${d.vm} checkpoint ${d.seq} (never restored; replication sends what it lacks again)`);
  return lines.join('\n');
}
