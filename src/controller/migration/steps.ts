// Pure decisions of the migration task: which of the seven steps an agent's progress report
// means, how transfer progress maps into the task's 0..100, what the task says meanwhile, and
// how a report updates the record. The orchestrator does the calls; this decides.
import { mib } from '../../contracts/format.js';
import type { MigrationLive } from '../../contracts/web-console.js';
import type { MigrationProgress, MigrationRecord, MigrationStep } from '../../contracts/migration.js';

/** Task progress at the start of each step; transfer (3-5) spans TRANSFER_FROM..TRANSFER_TO. */
export const STEP_PERCENT: Record<MigrationStep, number> = {
  'pre-migration': 1,
  reservation: 5,
  'initial-transfer': 10,
  'iterative-transfer': 10,
  'stop-and-copy': 10,
  commitment: 91,
  activation: 96,
};
export const TRANSFER_FROM = 10;
export const TRANSFER_TO = 90;

/**
 * The transfer step (3-5) a source's report stands for, from QEMU's status as the agent reports
 * it: the guest stopped (device, pre-switchover) or the stream done (completed) is stop-and-copy;
 * otherwise (including post-copy, whose pages still flow while the VM runs at the target) the first
 * round is the initial transfer and later rounds iterate. A completed report or a measured
 * downtime also means stop-and-copy happened.
 */
export function transferStep(p: MigrationProgress): MigrationStep {
  if (p.qemuStatus === 'device' || p.qemuStatus === 'pre-switchover' || p.qemuStatus === 'completed') return 'stop-and-copy';
  if (p.state === 'completed' || p.downtimeMs !== undefined) return 'stop-and-copy';
  return p.rounds <= 1 ? 'initial-transfer' : 'iterative-transfer';
}

export function transferPercent(p: MigrationProgress): number {
  const pct = Math.min(100, Math.max(0, Number.isFinite(p.percent) ? p.percent : 0));
  return TRANSFER_FROM + ((TRANSFER_TO - TRANSFER_FROM) * pct) / 100;
}

export function transferMessage(p: MigrationProgress): string {
  const parts = [`${transferStep(p)}: ${Math.floor(p.percent)}%`];
  if (p.rounds > 0) parts.push(`round ${p.rounds}`);
  if (p.remainingBytes > 0) parts.push(`${mib(p.remainingBytes)} left`);
  if (p.switchedToPostcopy) parts.push('post-copy');
  if (p.etaMs !== undefined && p.etaMs > 0) parts.push(`ETA ${Math.ceil(p.etaMs / 1000)} s`);
  return parts.join(', ');
}

/** What a report adds to the record. Byte counts and rounds only grow. */
export function withProgress(r: MigrationRecord, p: MigrationProgress): MigrationRecord {
  return {
    ...r,
    step: transferStep(p),
    rounds: Math.max(r.rounds, p.rounds),
    streamBytes: Math.max(r.streamBytes, p.streamBytes),
    wireBytes: Math.max(r.wireBytes, p.wireBytes),
    memoryBytes: p.memoryBytes > 0 ? p.memoryBytes : r.memoryBytes,
    ...(p.dirtyRateBytesPerSec > 0 ? { dirtyRateBytesPerSec: p.dirtyRateBytesPerSec } : {}),
    ...(p.downtimeMs !== undefined ? { downtimeMs: p.downtimeMs } : {}),
    ...(p.totalMs !== undefined ? { totalMs: p.totalMs } : {}),
    switchedToPostcopy: r.switchedToPostcopy || p.switchedToPostcopy,
  };
}

/** The report ends the transfer: `completed` goes on to commitment; failed/aborted is the cause. */
export function transferVerdict(p: MigrationProgress): 'continue' | 'completed' | 'failed' {
  if (p.state === 'completed' || p.state === 'committed') return 'completed';
  if (p.state === 'failed' || p.state === 'aborted') return 'failed';
  return 'continue';
}

/** The live part of a `migration` event: the task's percent and the latest report's numbers. */
export function liveOf(r: MigrationRecord, percent: number, p?: MigrationProgress): MigrationLive {
  const copied = r.step === 'commitment' || r.step === 'activation';
  return {
    percent,
    rounds: r.rounds,
    remainingBytes: p?.remainingBytes ?? (copied ? 0 : r.memoryBytes),
    dirtyRateBytesPerSec: r.dirtyRateBytesPerSec,
    ...(p?.etaMs !== undefined ? { etaMs: p.etaMs } : {}),
  };
}
