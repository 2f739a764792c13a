// Carries out one live migration as the seven steps of contracts/migration.ts, through the `MigrationIo`
// it is given (agent calls, record keeping), so the step logic is tested against fakes.
// Decisions come from planner.ts and steps.ts; this module only sequences the calls.
//
// The rule that matters: until the target has committed, the source is the VM of record, and the
// VM never runs on both hosts. The commit and any failure or abort are settled by asking the
// agents, never by guessing (settle.ts): a failure rolls back (the VM resumes at its source only
// once the target's copy is known gone) unless the target turns out to have committed, in which
// case the migration goes forward. After the target's commit nothing may stop the migration: the
// source's commit and the activation run without the task's signal.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Vm } from '../../contracts/controller-api.js';
import type { MigrationLive } from '../../contracts/web-console.js';
import type { IncomingMigrationRequest, MeasureResult, MigrationPlan, MigrationProgress, MigrationRecord, MigrationStep, OutgoingMigrationRequest } from '../../contracts/migration.js';
import { errorSummary, MigrationFailedError, reportedCode } from '../errors.js';
import { commitTarget, rollBack, type SettleIo, type Settled } from './settle.js';
import type { TaskContext } from '../task.js';
import { RESTART_MESSAGE } from '../task-runner.js';
import { DowntimeWatcher, type ConsoleReader } from './downtime.js';
import { plan, type PlannerInput } from './planner.js';
import { liveOf, STEP_PERCENT, transferMessage, transferPercent, transferVerdict, withProgress } from './steps.js';

export const PROGRESS_POLL_MS = 250;
const SOURCE_COMMIT_TRIES = 3;
const TARGET_COMPLETION_MS = 60_000;

export interface MigrationIo extends SettleIo {
  measure(signal: AbortSignal): Promise<MeasureResult>;
  incoming(req: IncomingMigrationRequest, signal: AbortSignal): Promise<MigrationProgress>;
  outgoing(req: OutgoingMigrationRequest, signal: AbortSignal): Promise<MigrationProgress>;
  sourceProgress(signal: AbortSignal): Promise<MigrationProgress>;
  commitSource(): Promise<unknown>;
  /** In the background, best effort: the target discards what it holds (it also does so by itself). */
  cleanupTarget(): void;
  /** Step 7: the VM record moves to the target; publishes the `vm` event. */
  activate(record: MigrationRecord): Promise<void>;
  save(record: MigrationRecord): void;
  /** The running migration's progress, at every step and transfer report (the callee throttles); optional. */
  live?(record: MigrationRecord, live: MigrationLive): void;
  /** Reads the VM's console on either host (for observed downtime); optional. */
  console?: ConsoleReader;
}

export interface MigrationInput {
  id: string;
  vm: Vm;
  to: string;
  targetDataUrl: string;
  planner: Omit<PlannerInput, 'memoryBytes' | 'dirtyRateBytesPerSec' | 'linkBytesPerSec' | 'rttMs'>;
  bandwidthBytesPerSec?: number;
}

export function initialRecord(inp: MigrationInput, now = new Date().toISOString()): MigrationRecord {
  return {
    id: inp.id, vm: inp.vm.name, from: inp.vm.host, to: inp.to, strategy: 'precopy', transport: 'auto', outcome: 'running', step: 'pre-migration',
    rounds: 0, dirtyRateBytesPerSec: 0, predictedDowntimeMs: 0, predictedTotalMs: 0, downtimeMs: 0, totalMs: 0,
    memoryBytes: inp.vm.memoryMiB * 1024 * 1024, streamBytes: 0, wireBytes: 0, switchedToPostcopy: false, startedAt: now,
  };
}

/** Step 1's measurement and plan (also what a dry run answers). */
export async function measureAndPlan(io: Pick<MigrationIo, 'measure'>, inp: MigrationInput, signal: AbortSignal): Promise<MigrationPlan> {
  const m = await io.measure(signal);
  return plan({ ...inp.planner, memoryBytes: m.memoryBytes, dirtyRateBytesPerSec: m.dirtyRateBytesPerSec, linkBytesPerSec: m.linkBytesPerSec, rttMs: m.rttMs });
}

export async function runMigration(io: MigrationIo, inp: MigrationInput, t: TaskContext): Promise<MigrationRecord> {
  const started = performance.now();
  let rec = initialRecord(inp);
  const step = (s: MigrationStep, message: string): void => {
    rec = { ...rec, step: s };
    io.save(rec);
    t.progress(STEP_PERCENT[s], `${s}: ${message}`);
    io.live?.(rec, liveOf(rec, STEP_PERCENT[s]));
  };
  const ended = (outcome: 'failed' | 'aborted', cause: unknown): void => {
    rec = { ...rec, outcome, error: errorSummary(cause), totalMs: Math.round(performance.now() - started), finishedAt: new Date().toISOString() };
    io.save(rec);
  };
  const hosts = { source: inp.vm.host, target: inp.to };
  // While an agent does not answer, the task says what it waits for.
  const settleIo: SettleIo = { ...io, waiting: (what) => (io.waiting(what), t.progress(STEP_PERCENT[rec.step as MigrationStep], `${rec.step}: ${what}`)) };
  const watcher = io.console ? new DowntimeWatcher(io.console) : undefined;
  let reserved = false;
  let settled: Settled;
  try {
    step('pre-migration', `measuring ${inp.vm.name} and the link ${inp.vm.host} -> ${inp.to}`);
    const p = await measureAndPlan(io, inp, t.signal);
    rec = { ...rec, strategy: p.chosen.strategy, transport: p.transport, memoryBytes: p.memoryBytes, dirtyRateBytesPerSec: p.dirtyRateBytesPerSec, predictedDowntimeMs: p.chosen.predictedDowntimeMs, predictedTotalMs: p.chosen.predictedTotalMs };
    io.log('migration %s of %s: %s over %s (%s)', inp.id, inp.vm.name, p.chosen.strategy, p.transport, p.chosen.why);

    step('reservation', `reserving ${inp.vm.memoryMiB} MiB on ${inp.to}`);
    reserved = true;
    const copyDisks = inp.vm.spec.disks.length > 0;
    const reservation = await io.incoming({ migrationId: inp.id, spec: inp.vm.spec, sourceHost: inp.vm.host, strategy: rec.strategy, copyDisks, transport: p.transport }, t.signal);
    if (p.transport === 'direct' && reservation.listenPort === undefined) throw new MigrationFailedError('MIGRATION_FAILED', `${inp.to} reserved the migration but named no port for the direct transport`);

    step('initial-transfer', `${rec.strategy} over ${rec.transport}`);
    watcher?.start();
    const out: OutgoingMigrationRequest = {
      migrationId: inp.id, vm: inp.vm.name, targetHost: inp.to, targetDataUrl: inp.targetDataUrl, strategy: rec.strategy,
      maxDowntimeMs: inp.planner.maxDowntimeMs, transport: p.transport, copyDisks,
      ...(reservation.listenPort !== undefined ? { targetDirectPort: reservation.listenPort } : {}),
      ...(inp.bandwidthBytesPerSec !== undefined ? { bandwidthBytesPerSec: inp.bandwidthBytesPerSec } : {}),
    };
    let report = await io.outgoing(out, t.signal);
    for (;;) {
      const before = rec.step;
      rec = withProgress(rec, report);
      if (rec.step !== before) io.save(rec);
      const percent = transferPercent(report);
      t.progress(percent, transferMessage(report));
      io.live?.(rec, liveOf(rec, percent, report));
      const verdict = transferVerdict(report);
      if (verdict === 'completed') break;
      if (verdict === 'failed') throw new MigrationFailedError(reportedCode(report.error, 'MIGRATION_FAILED'), report.error?.message ?? `source reports the migration ${report.state}`);
      await sleep(PROGRESS_POLL_MS, undefined, { signal: t.signal });
      report = await io.sourceProgress(t.signal);
    }

    step('commitment', `${inp.to} confirms the VM runs there`);
    await targetCompleted(io, t.signal);
    settled = await commitTarget(settleIo, hosts, t.signal);
  } catch (err) {
    const cause = t.signal.aborted ? t.signal.reason : err;
    if (!reserved) {
      await watcher?.stop(0);
      ended(t.signal.aborted ? 'aborted' : 'failed', cause);
      throw err;
    }
    io.log('migration %s of %s failed before commitment (%s): rolling back', inp.id, inp.vm.name, errorSummary(cause).message);
    try {
      settled = await rollBack(settleIo, hosts, errorSummary(cause).message);
    } catch (unsettled) {
      // Only when this controller shuts down: the record stays `running` for the next start to settle.
      await watcher?.stop(0);
      rec = { ...rec, error: errorSummary(unsettled) };
      io.save(rec);
      throw unsettled;
    }
    if (settled.outcome === 'rolled-back') {
      io.cleanupTarget();
      await watcher?.stop(0);
      ended(t.signal.aborted ? 'aborted' : 'failed', cause);
      throw err;
    }
    io.log('migration %s of %s: the target had committed; going forward', inp.id, inp.vm.name);
  }
  if (settled.outcome === 'rolled-back') {
    const err = new MigrationFailedError('MIGRATION_FAILED', `the commit did not take: ${settled.why}; the VM runs at ${inp.vm.host}`);
    await watcher?.stop(0);
    ended('failed', err);
    throw err;
  }

  // Past the point of no return: the target holds the VM of record.
  return finishCommitted(io, inp, t, rec, started, watcher);
}

/** A migration a previous controller left running: settled by asking (rolled back unless the target committed). */
export async function settleInterrupted(io: MigrationIo, inp: MigrationInput, rec: MigrationRecord, t: TaskContext): Promise<MigrationRecord> {
  const started = performance.now();
  const hosts = { source: inp.vm.host, target: inp.to };
  const settleIo: SettleIo = { ...io, waiting: (what) => (io.waiting(what), t.progress(STEP_PERCENT.commitment, `settling: ${what}`)) };
  t.progress(STEP_PERCENT.commitment, `settling: asking ${hosts.source} and ${hosts.target} what they hold`);
  const settled = await rollBack(settleIo, hosts, RESTART_MESSAGE);
  if (settled.outcome === 'committed') {
    io.log('migration %s of %s: the target had committed; finishing it', inp.id, inp.vm.name);
    return finishCommitted(io, inp, t, { ...rec, step: 'commitment' }, started);
  }
  io.cleanupTarget();
  const err = new MigrationFailedError('MIGRATION_FAILED', `${RESTART_MESSAGE}: rolled back, the VM runs at ${hosts.source}`);
  io.save({ ...rec, outcome: 'failed', error: errorSummary(err), finishedAt: new Date().toISOString() });
  throw err;
}

/** The target committed: discard the source's copy, move the record, and say how it went. */
export async function finishCommitted(io: MigrationIo, inp: MigrationInput, t: TaskContext, rec: MigrationRecord, started: number, watcher?: DowntimeWatcher): Promise<MigrationRecord> {
  t.progress(STEP_PERCENT.commitment + 2, `commitment: discarding the copy on ${inp.vm.host}`);
  await commitSource(io, inp);
  rec = { ...rec, step: 'activation' };
  io.save(rec);
  t.progress(STEP_PERCENT.activation, `activation: ${inp.vm.name} runs on ${inp.to}`);
  io.live?.(rec, liveOf(rec, STEP_PERCENT.activation));
  await io.activate(rec);
  const observed = await watcher?.stop();
  rec = {
    ...rec,
    outcome: 'succeeded',
    totalMs: rec.totalMs > 0 ? rec.totalMs : Math.round(performance.now() - started),
    ...(observed !== undefined ? { observedDowntimeMs: observed } : {}),
    finishedAt: new Date().toISOString(),
  };
  delete rec.error;
  io.save(rec);
  return rec;
}

/** The target notices the end of the stream a moment after the source: wait for it to agree. */
async function targetCompleted(io: MigrationIo, signal: AbortSignal): Promise<void> {
  const deadline = performance.now() + TARGET_COMPLETION_MS;
  for (;;) {
    const p = await io.targetProgress(signal);
    const verdict = transferVerdict(p);
    if (verdict === 'completed') return;
    if (verdict === 'failed') throw new MigrationFailedError(reportedCode(p.error, 'MIGRATION_FAILED'), p.error?.message ?? `target reports the migration ${p.state}`);
    if (performance.now() > deadline) throw new MigrationFailedError('TIMEOUT', `target has not completed the incoming migration ${TARGET_COMPLETION_MS / 1000} s after the source`);
    await sleep(PROGRESS_POLL_MS / 2, undefined, { signal });
  }
}

async function commitSource(io: MigrationIo, inp: MigrationInput): Promise<void> {
  for (let i = 1; ; i++) {
    try {
      await io.commitSource();
      return;
    } catch (err) {
      io.log('migration %s: source %s did not discard its copy (try %d): %s', inp.id, inp.vm.host, i, (err as Error).message);
      if (i >= SOURCE_COMMIT_TRIES) return; // the VM runs at the target; a stale copy is left for a human
      await sleep(500 * i);
    }
  }
}
