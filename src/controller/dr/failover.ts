// Failover, DR test and failback as one task each (docs/dr.md), through the `FailoverIo` they
// are given so the sequences are tested against fakes. Every run ends in a FailoverReport that
// is kept, succeeded or not: it is the evidence a DR test exists for.
//
// - unplanned: the newest checkpoint committed at the DR host is restored there and becomes
//   the VM of record (the service has made sure the VM's host is down: a human fenced it).
// - planned (and failback, which is a planned switch in the other direction): a checkpoint
//   while the VM runs (so the final one is small), then the final one with the VM left paused,
//   restored at the destination. Until that restore succeeds the source is the VM of record and
//   is resumed on any failure; after it, the source copy is stopped and deleted.
// - test: the newest checkpoint runs under another name with no outside network, is checked,
//   and is always torn down; production and replication are not touched.
import type { GuestHealth } from '../../contracts/guest-health.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Vm } from '../../contracts/controller-api.js';
import type { CheckpointProgress, CheckpointRecord, FailoverReport, RestoreRequest, StoredCheckpoint } from '../../contracts/dr.js';
import { lastHeartbeat, parseHeartbeats } from '../../contracts/heartbeat.js';
import { forwardPortsOf, type VmStatus } from '../../contracts/vm-spec.js';
import type { ProbeResult } from '../../contracts/agent-api.js';
import { DrFailedError, errorSummary, InvalidStateError } from '../errors.js';
import type { TaskContext } from '../task.js';
import { guestChecks, nothingLost, stateCheck, type Check } from './checks.js';
import { seconds } from '../../contracts/format.js';

/** A restored service may take a moment to accept connections again. */
const SERVICE_TRIES = 10;
const SERVICE_RETRY_MS = 500;

export const HEARTBEAT_WAIT_MS = 30_000;
export const CONSOLE_POLL_MS = 200;

export interface FailoverIo {
  /** Committed checkpoints held at `host`, newest first. */
  stored(host: string, signal: AbortSignal): Promise<StoredCheckpoint[]>;
  /** One checkpoint `from` -> `to` (recorded as it commits). */
  checkpoint(from: string, to: string, leavePaused: boolean, signal: AbortSignal, progress?: (p: CheckpointProgress) => void): Promise<CheckpointRecord>;
  restore(host: string, req: RestoreRequest, signal: AbortSignal): Promise<VmStatus>;
  /** The VM as `host` reports it; undefined if it has no such VM. */
  status(host: string, name: string): Promise<VmStatus | undefined>;
  console(host: string, name: string): Promise<string>;
  /** HTTP GET of a forwarded guest port of `name`, made on `host`. */
  probe(host: string, name: string, guestPort: number): Promise<ProbeResult>;
  /** What can be seen of a guest that is not the demo guest (src/contracts/guest-health.ts). */
  health?(host: string, name: string): Promise<Pick<GuestHealth, 'ok' | 'items'>>;
  /** Best effort; never throws. */
  resume(host: string, name: string): Promise<void>;
  /** Forced stop, then delete with its files; a VM already gone is fine. */
  discard(host: string, name: string): Promise<void>;
  /** The VM of record now runs at `host`: move its record (and the protection with it). */
  moved(host: string, status: VmStatus): void;
  /** DR test: has replication gone on untouched? */
  replication(): Check;
  save(report: FailoverReport): void;
  log(fmt: string, ...args: unknown[]): void;
}

export interface FailoverInput {
  id: string;
  kind: FailoverReport['kind'];
  vm: Vm;
  /** Where the VM runs (or ran) and where it goes; for a test, where the copy runs. */
  from: string;
  to: string;
  /** When the command came (epoch ms): the data window and time to running count from it. */
  commandAt: number;
  /** planned/failback: take a checkpoint with the VM running first. */
  warmUp?: boolean;
  /** test: the copy's name. */
  testName?: string;
  heartbeatWaitMs?: number;
}

/** A flow fills in the report as it goes, so a failure midway still reports what was done. */
type Flow = (io: FailoverIo, inp: FailoverInput, t: TaskContext, r: FailoverReport) => Promise<void>;

export async function runFailover(io: FailoverIo, inp: FailoverInput, t: TaskContext): Promise<FailoverReport> {
  const r: FailoverReport = {
    id: inp.id, vm: inp.vm.name, kind: inp.kind, outcome: 'failed', from: inp.from, to: inp.to, checkpointSeq: 0,
    dataWindowMs: 0, timeToRunningMs: 0, checks: [], startedAt: new Date(inp.commandAt).toISOString(), finishedAt: '',
  };
  let thrown: unknown;
  try {
    const flow: Flow = inp.kind === 'unplanned' ? unplanned : inp.kind === 'test' ? drTest : planned;
    await flow(io, inp, t, r);
    const failed = r.checks.filter((c) => !c.passed);
    r.outcome = failed.length === 0 ? 'succeeded' : 'failed';
    if (failed.length > 0) r.error = { code: 'CHECK_FAILED', message: failed.map((c) => `${c.name}: ${c.detail}`).join('; ') };
  } catch (err) {
    thrown = t.signal.aborted ? t.signal.reason : err;
    r.outcome = 'failed';
    r.error = errorSummary(thrown);
  }
  r.finishedAt = new Date().toISOString();
  io.save(r);
  io.log('%s of %s %s -> %s: %s%s', inp.kind, inp.vm.name, inp.from, inp.to, r.outcome, r.error ? ` (${r.error.code} ${r.error.message})` : '');
  if (thrown !== undefined) throw thrown;
  if (r.error) throw new DrFailedError(r.error.code, r.error.message);
  return r;
}

const unplanned: Flow = async (io, inp, t, r) => {
  const name = inp.vm.name;
  t.progress(5, `reading the checkpoints of ${name} held by ${inp.to}`);
  const cp = newest(await io.stored(inp.to, t.signal), inp);
  const window = inp.commandAt - Date.parse(cp.takenAt);
  r.checkpointSeq = cp.seq;
  r.dataWindowMs = Math.max(0, window);
  t.progress(20, `restoring checkpoint ${cp.seq} of ${name} on ${inp.to} (taken ${seconds(window)} before the command)`);
  const st = await io.restore(inp.to, { vm: name, seq: cp.seq }, t.signal);
  io.moved(inp.to, st);
  t.progress(70, `${name} restored on ${inp.to}; waiting for its heartbeat`);
  const running = await guestRunning(io, inp, name, cp.guestSeq, st);
  r.timeToRunningMs = running.timeToRunningMs;
  r.checks.push(...running.checks);
};

/** Planned failover and failback. */
const planned: Flow = async (io, inp, t, r) => {
  const name = inp.vm.name;
  await clearDestination(io, inp, t);
  r.wireBytes = 0;
  const progress = (from: number, to: number, what: string) => (p: CheckpointProgress) =>
    t.progress(from + ((to - from) * p.bytesDone) / Math.max(1, p.bytesTotal), `${what}: ${p.state}`);
  if (inp.warmUp) {
    t.progress(5, `checkpoint of ${name} ${inp.from} -> ${inp.to} while it runs`);
    r.wireBytes += (await io.checkpoint(inp.from, inp.to, false, t.signal, progress(5, 35, 'checkpoint while running'))).wireBytes;
  }
  t.progress(40, `final checkpoint of ${name}; it stays paused on ${inp.from}`);
  let cp: CheckpointRecord;
  let st: VmStatus;
  let sourceSeq: number | undefined;
  try {
    cp = await io.checkpoint(inp.from, inp.to, true, t.signal, progress(40, 60, 'final checkpoint'));
    r.wireBytes += cp.wireBytes;
    r.checkpointSeq = cp.seq;
    sourceSeq = lastHeartbeat(await io.console(inp.from, name).catch(() => ''))?.seq;
    t.progress(62, `restoring checkpoint ${cp.seq} of ${name} on ${inp.to}`);
    st = await io.restore(inp.to, { vm: name, seq: cp.seq }, t.signal);
  } catch (err) {
    // Nothing runs at the destination: the source is still the VM of record.
    await io.resume(inp.from, name);
    throw err;
  }
  // Past the point of no return: the restored copy is the VM of record.
  t.progress(75, `discarding the copy of ${name} on ${inp.from}`);
  const discarded = await discardCheck(io, inp.from, name, 'source discarded');
  io.moved(inp.to, st);
  t.progress(85, `${name} runs on ${inp.to}; waiting for its heartbeat`);
  const running = await guestRunning(io, inp, name, cp.guestSeq, st);
  const lost = nothingLost(sourceSeq, running.firstSeq);
  r.dataWindowMs = lost.dataWindowMs;
  r.timeToRunningMs = running.timeToRunningMs;
  r.checks.push(...running.checks, lost.check, discarded);
};

const drTest: Flow = async (io, inp, t, r) => {
  const name = inp.vm.name;
  const copy = inp.testName ?? `${name}-drtest`;
  t.progress(5, `reading the checkpoints of ${name} held by ${inp.to}`);
  const cp = newest(await io.stored(inp.to, t.signal), inp);
  r.checkpointSeq = cp.seq;
  r.dataWindowMs = Math.max(0, inp.commandAt - Date.parse(cp.takenAt));
  try {
    t.progress(20, `restoring checkpoint ${cp.seq} of ${name} as ${copy} on ${inp.to}, isolated`);
    const st = await io.restore(inp.to, { vm: name, seq: cp.seq, asName: copy, isolated: true }, t.signal);
    t.progress(50, `${copy} restored; waiting for its heartbeat`);
    const running = await guestRunning(io, inp, copy, cp.guestSeq, st, t.signal);
    r.timeToRunningMs = running.timeToRunningMs;
    r.checks.push(...running.checks, ...(await serviceChecks(io, inp, copy, t.signal)), await production(io, inp));
  } finally {
    t.progress(90, `tearing down ${copy} on ${inp.to}`);
    r.checks.push(await discardCheck(io, inp.to, copy, 'torn down'), io.replication());
  }
};

function newest(list: readonly StoredCheckpoint[], inp: FailoverInput): StoredCheckpoint {
  const cp = [...list].sort((a, b) => b.seq - a.seq)[0];
  if (!cp) throw new InvalidStateError(`${inp.to} holds no committed checkpoint of VM ${inp.vm.name}`);
  return cp;
}

/** A leftover VM of the same name at the destination (e.g. from before a failover) goes, unless it runs. */
async function clearDestination(io: FailoverIo, inp: FailoverInput, t: TaskContext): Promise<void> {
  const name = inp.vm.name;
  const stale = await io.status(inp.to, name);
  if (!stale) return;
  if (!['stopped', 'crashed', 'suspended'].includes(stale.state)) {
    throw new InvalidStateError(`a copy of ${name} from before is ${stale.state} on ${inp.to} (not the VM of record): stop it there first`);
  }
  t.progress(3, `deleting the stale copy of ${name} on ${inp.to}`);
  await io.discard(inp.to, name);
}

async function discardCheck(io: FailoverIo, host: string, name: string, check: string): Promise<Check> {
  try {
    await io.discard(host, name);
    return { name: check, passed: true, detail: `${name} stopped and deleted on ${host}` };
  } catch (err) {
    io.log('could not discard %s on %s: %s', name, host, (err as Error).message);
    return { name: check, passed: false, detail: `${name} on ${host}: ${(err as Error).message}; delete it by hand` };
  }
}

/** The copy's services answer: each forwarded guest port of a VM running the http workload. */
async function serviceChecks(io: FailoverIo, inp: FailoverInput, copy: string, signal: AbortSignal): Promise<Check[]> {
  if (!inp.vm.spec.workload.split(',').includes('http')) return [];
  const ports = inp.vm.spec.nics.flatMap(forwardPortsOf);
  const checks: Check[] = [];
  for (const port of ports) {
    let last: ProbeResult | undefined;
    for (let i = 0; i < SERVICE_TRIES && !signal.aborted; i++) {
      last = await io.probe(inp.to, copy, port).catch((err: Error) => ({ guestPort: port, answered: false, ms: 0, error: err.message }));
      if (last.answered) break;
      await sleep(SERVICE_RETRY_MS);
    }
    checks.push({
      name: 'service answered',
      passed: last?.answered === true && last.status !== undefined && last.status < 500,
      detail: last?.answered ? `guest port ${port} of ${copy} answered HTTP ${last.status} in ${last.ms} ms` : `guest port ${port} of ${copy} did not answer: ${last?.error ?? 'not probed'}`,
    });
  }
  return checks;
}

async function production(io: FailoverIo, inp: FailoverInput): Promise<Check> {
  const name = inp.vm.name;
  const st = await io.status(inp.vm.host, name).catch(() => undefined);
  const now = st?.state ?? 'not reported';
  return { name: 'production untouched', passed: now === inp.vm.state, detail: `${name} is ${now} on ${inp.vm.host} (was ${inp.vm.state} at the command)` };
}

/** Polls the console until a heartbeat shows (demo guest), or takes the agent's word (others). */
async function guestRunning(
  io: FailoverIo,
  inp: FailoverInput,
  name: string,
  guestSeq: number | undefined,
  st: VmStatus,
  signal?: AbortSignal,
): Promise<{ timeToRunningMs: number; checks: Check[]; firstSeq?: number }> {
  const since = () => Math.max(0, Date.now() - inp.commandAt);
  const waitMs = inp.heartbeatWaitMs ?? HEARTBEAT_WAIT_MS;
  const deadline = performance.now() + waitMs;
  if (inp.vm.spec.boot.kind !== 'demo') {
    // Any other guest: what Ferry can see of it (QEMU, its guest agent, its forwarded ports), until all pass or the wait ends.
    if (!io.health) return { timeToRunningMs: since(), checks: [stateCheck(st.state)] };
    for (;;) {
      const h = await io.health(inp.to, name).catch((err: Error) => ({ ok: false, items: [{ name: 'health', ok: false, detail: err.message }] }));
      if (h.ok || performance.now() > deadline) return { timeToRunningMs: since(), checks: h.items.map((i) => ({ name: i.name, passed: i.ok, detail: i.detail })) };
      await sleep(CONSOLE_POLL_MS, undefined, signal ? { signal } : {});
    }
  }
  for (;;) {
    const beats = parseHeartbeats(await io.console(inp.to, name).catch(() => ''));
    if (beats.length > 0) return { timeToRunningMs: since(), checks: guestChecks(guestSeq, { first: beats[0]!, last: beats.at(-1)! }, waitMs), firstSeq: beats[0]!.seq };
    if (performance.now() > deadline) return { timeToRunningMs: since(), checks: guestChecks(guestSeq, undefined, waitMs) };
    await sleep(CONSOLE_POLL_MS, undefined, signal ? { signal } : {});
  }
}
