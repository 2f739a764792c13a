// The replication scheduler's decisions: pure functions from one protection's snapshot (its RPO,
// the newest committed checkpoint, how long the last ones took, what blocks it) to "start a
// checkpoint now or not" and "is the RPO in danger, and why". replicator.ts carries them out.
//
// The rule (docs/dr.md): the newest committed checkpoint must never get older than the RPO. A
// checkpoint started at t commits at about t + expected, so the next one starts at
//   takenAt(newest) + rpo − HEADROOM × expected
// where expected is the slowest of the last few checkpoints, never sooner than MIN_INTERVAL_MS
// after the previous start, and not while a failed attempt's backoff runs.
import type { ProtectionState } from '../../contracts/dr.js';
import { mib, seconds } from '../../contracts/format.js';

export const HEADROOM = 1.5;
export const MIN_INTERVAL_MS = 1000;
/** Expected duration = the slowest of this many recent checkpoints. */
export const RECENT_FOR_EXPECTED = 3;
export const BACKOFF_FIRST_MS = 1000;
export const BACKOFF_MAX_MS = 60_000;

export interface RecentCheckpoint {
  durationMs: number;
  wireBytes: number;
}

export interface ScheduleInput {
  rpoMs: number;
  /** takenAt (epoch ms) of the newest checkpoint committed at the DR site, if any. */
  newestTakenAt?: number;
  /** Since when the DR site has held no checkpoint (epoch ms; used while syncing). */
  syncingSince: number;
  /** The last checkpoints, newest first. */
  recent: readonly RecentCheckpoint[];
  now: number;
  /** A checkpoint of this VM runs, or another task holds the VM (e.g. a migration). */
  running: boolean;
  /** Why no checkpoint can be taken now (VM not running, a host down); raises the alarm. */
  blocked?: string;
  /** After a failure: no new attempt before this (epoch ms). */
  retryAt?: number;
  lastStartAt?: number;
  /** The last attempt's failure, named in the alarm. */
  lastError?: string;
}

export interface ScheduleDecision {
  startNow: boolean;
  state: Exclude<ProtectionState, 'failed-over'>;
  /** When the next checkpoint should start (epoch ms). */
  dueAt: number;
  expectedMs: number;
  /** Why the RPO is not (or will not be) held; undefined when it is. */
  alarm?: string;
}

export function decide(i: ScheduleInput): ScheduleDecision {
  const slowest = slowestRecent(i.recent);
  const expectedMs = slowest?.durationMs ?? 0;
  const age = i.newestTakenAt === undefined ? undefined : i.now - i.newestTakenAt;
  const state = age === undefined ? 'syncing' : age > i.rpoMs && i.rpoMs > 0 ? 'behind' : 'protected';
  const ideal = i.newestTakenAt === undefined ? i.syncingSince : i.newestTakenAt + i.rpoMs - HEADROOM * expectedMs;
  const dueAt = Math.max(ideal, (i.lastStartAt ?? -Infinity) + MIN_INTERVAL_MS, i.retryAt ?? -Infinity);
  const startNow = !i.running && i.blocked === undefined && i.now >= dueAt;
  const alarm = alarmReason(i, age, slowest);
  return { startNow, state, dueAt, expectedMs, ...(alarm !== undefined ? { alarm } : {}) };
}

/** Why the RPO is in danger, in words an operator can act on; undefined while it is held. */
function alarmReason(i: ScheduleInput, age: number | undefined, slowest: RecentCheckpoint | undefined): string | undefined {
  const rpo = seconds(i.rpoMs);
  if (i.blocked !== undefined) return i.blocked;
  if (i.rpoMs === 0) return zeroLossAlarm(i, age);
  if (slowest && slowest.durationMs >= i.rpoMs) {
    const rate = slowest.durationMs > 0 ? (slowest.wireBytes * 1000) / slowest.durationMs : 0;
    return `a checkpoint takes ${seconds(slowest.durationMs)} (${mib(slowest.wireBytes)} at ${mib(rate)}/s) but the RPO is ${rpo}`;
  }
  const failing = i.lastError !== undefined ? `; the last attempt failed: ${i.lastError}` : '';
  if (age !== undefined && age > i.rpoMs) return `the newest checkpoint is older than the RPO of ${rpo}${failing}`;
  if (age === undefined && i.now - i.syncingSince > i.rpoMs) return `no checkpoint has committed within the RPO of ${rpo} since protection began${failing}`;
  return undefined;
}

/**
 * Zero-loss mode: no output leaves the guest before the checkpoint that produced it commits, so
 * an old checkpoint costs latency, not data; the alarm is for a stream of checkpoints that
 * stopped committing (the guest's network then stalls).
 */
function zeroLossAlarm(i: ScheduleInput, age: number | undefined): string | undefined {
  if (i.lastError === undefined) return undefined;
  const since = age === undefined ? 'no checkpoint has committed yet' : `the newest committed checkpoint is ${seconds(age)} old`;
  return `zero-loss mode: checkpoints are failing (${i.lastError}); the guest's output is held meanwhile, ${since}`;
}

function slowestRecent(recent: readonly RecentCheckpoint[]): RecentCheckpoint | undefined {
  let worst: RecentCheckpoint | undefined;
  for (const c of recent.slice(0, RECENT_FOR_EXPECTED)) if (!worst || c.durationMs > worst.durationMs) worst = c;
  return worst;
}

/** Delay before the next attempt after `failures` failures in a row. */
export function backoffMs(failures: number): number {
  return Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** Math.max(0, failures - 1));
}

/** What keeps a protection from taking a checkpoint now, if anything (see ScheduleInput.blocked). */
export function blockedBy(i: {
  vm: string;
  record?: { state: string; host: string };
  hostUp: (host: string) => boolean;
  targetHost: string;
  targetDataUrl?: string;
}): string | undefined {
  if (!i.record) return `VM ${i.vm} no longer exists`;
  if (i.record.state !== 'running') return `VM ${i.vm} is ${i.record.state}: checkpoints wait until it runs`;
  if (!i.hostUp(i.record.host)) return `host ${i.record.host} of VM ${i.vm} is down`;
  if (!i.hostUp(i.targetHost)) return `DR host ${i.targetHost} is down`;
  if (!i.targetDataUrl) return `DR host ${i.targetHost} has no data endpoint (ferry-wire) to receive checkpoints`;
  return undefined;
}

