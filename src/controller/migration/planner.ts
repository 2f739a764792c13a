// The migration planner: a pure function from what was measured (memory, dirty rate, link) and
// what the user asked for to a MigrationPlan — a prediction for each strategy and the one to use.
//
// Model (Clark et al., "Live Migration of Virtual Machines", NSDI 2005):
// - pre-copy: round 1 sends all memory while the guest runs; round i sends what the guest
//   dirtied during round i-1 (capped at the memory size). QEMU stops the guest once what is
//   left fits in maxDowntime × link (its downtime-limit test); the pause then costs the rest
//   plus the device state plus one round trip. No convergence after MAX_ROUNDS → non-convergent.
//   With auto-converge QEMU throttles the vCPUs when a round dirties more than half of what it
//   sent (20 %, then +10 % per round, up to 99 %), which we model as a lower dirty rate.
// - post-copy (Hines et al.): the guest moves at once; downtime ≈ device state + RTT, every page
//   crosses once, so total ≈ memory / link. The risk: after the switch neither host alone holds
//   the whole VM, so losing the link or a host loses the VM.
// - hybrid: HYBRID_PRECOPY_ROUNDS pre-copy rounds (they cut what post-copy must fetch on
//   demand), then post-copy.
// `auto` picks pre-copy when it meets maxDowntime without throttling the guest below half its
// CPU, otherwise hybrid. An explicit strategy is honoured; the plan says if it meets the limit.
import { mib, rate } from '../../contracts/format.js';
import type { ConcreteStrategy, ConcreteTransport, MigrationPlan, MigrationPrediction, MigrationStrategy, Transport } from '../../contracts/migration.js';

export const MAX_ROUNDS = 30;
export const HYBRID_PRECOPY_ROUNDS = 2;
/** Device state (CPU registers, virtio queues…) sent during the pause. */
export const DEVICE_STATE_BYTES = 256 * 1024;
/** Links at least this fast (about 1 Gbit/s) get `direct`: chunking would only slow them. */
export const DIRECT_MIN_BYTES_PER_SEC = 100 * 1024 * 1024;
/** `auto` avoids pre-copy plans that need the guest throttled beyond this. */
export const AUTO_MAX_THROTTLE = 0.5;
export const DEFAULT_MAX_DOWNTIME_MS = 300;

export interface PlannerInput {
  vm: string;
  from: string;
  to: string;
  memoryBytes: number;
  dirtyRateBytesPerSec: number;
  linkBytesPerSec: number;
  rttMs: number;
  maxDowntimeMs: number;
  strategy: MigrationStrategy;
  transport: Transport;
  /** Why QEMU cannot reach the target's QEMU itself (a bridged VM's QEMU in a host namespace): `auto` relays instead of `direct`. */
  noDirect?: string;
  /** The user's cap on the wire; the planner uses the smaller of it and the link. */
  bandwidthBytesPerSec?: number;
  /** Model QEMU's auto-converge (default true). */
  autoConverge?: boolean;
}

interface PrecopyRun {
  rounds: number;
  converged: boolean;
  remaining: number;
  wire: number;
  sendMs: number;
  throttle: number;
}

/** Runs pre-copy rounds until convergence or `maxRounds`. */
function precopyRounds(m: number, dirty: number, link: number, maxDowntimeMs: number, maxRounds: number, autoConverge: boolean): PrecopyRun {
  const threshold = (maxDowntimeMs / 1000) * link;
  let remaining = m;
  let wire = 0;
  let sendMs = 0;
  let rounds = 0;
  let throttle = 0;
  let highRounds = 0;
  for (;;) {
    if (rounds >= 1 && remaining <= threshold) return { rounds, converged: true, remaining, wire, sendMs, throttle };
    if (rounds >= maxRounds) return { rounds, converged: false, remaining, wire, sendMs, throttle };
    const seconds = remaining / link;
    wire += remaining;
    sendMs += seconds * 1000;
    rounds++;
    const dirtied = Math.min(m, dirty * (1 - throttle) * seconds);
    // QEMU's rule: throttle after two rounds that each dirtied more than half of what they sent.
    highRounds = dirtied > remaining / 2 ? highRounds + 1 : 0;
    if (autoConverge && highRounds >= 2) throttle = throttle === 0 ? 0.2 : Math.min(0.99, throttle + 0.1);
    remaining = dirtied;
  }
}

const pauseMs = (bytes: number, link: number, rttMs: number): number => ((bytes + DEVICE_STATE_BYTES) / link) * 1000 + rttMs;

function precopy(inp: PlannerInput, link: number): MigrationPrediction & { throttle: number } {
  const run = precopyRounds(inp.memoryBytes, inp.dirtyRateBytesPerSec, link, inp.maxDowntimeMs, MAX_ROUNDS, inp.autoConverge ?? true);
  const downtime = pauseMs(run.remaining, link, inp.rttMs);
  const throttled = run.throttle > 0 ? `, vCPUs throttled to ${Math.round((1 - run.throttle) * 100)} %` : '';
  const why = run.converged
    ? `converges after ${run.rounds} round(s)${throttled}; ${mib(run.remaining)} left for the pause`
    : `does not converge in ${MAX_ROUNDS} rounds: guest dirties ${rate(inp.dirtyRateBytesPerSec)} over a ${rate(link)} link${throttled}`;
  return {
    strategy: 'precopy',
    predictedTotalMs: Math.round(run.sendMs + downtime),
    predictedDowntimeMs: Math.round(downtime),
    predictedWireBytes: Math.round(run.wire + run.remaining + DEVICE_STATE_BYTES),
    // QEMU's own test: what is left fits in the downtime limit (device state and RTT ride on top).
    meetsMaxDowntime: run.converged,
    why,
    throttle: run.throttle,
  };
}

function postcopy(inp: PlannerInput, link: number): MigrationPrediction {
  const downtime = pauseMs(0, link, inp.rttMs);
  return {
    strategy: 'postcopy',
    predictedTotalMs: Math.round(((inp.memoryBytes + DEVICE_STATE_BYTES) / link) * 1000 + inp.rttMs),
    predictedDowntimeMs: Math.round(downtime),
    predictedWireBytes: Math.round(inp.memoryBytes + DEVICE_STATE_BYTES),
    meetsMaxDowntime: downtime <= inp.maxDowntimeMs,
    why: `switches at once, then every page crosses once (page faults wait ~${Math.round(inp.rttMs)} ms); risk: losing the link or a host after the switch loses the VM`,
  };
}

function hybrid(inp: PlannerInput, link: number): MigrationPrediction {
  const run = precopyRounds(inp.memoryBytes, inp.dirtyRateBytesPerSec, link, inp.maxDowntimeMs, HYBRID_PRECOPY_ROUNDS, false);
  const downtime = run.converged ? pauseMs(run.remaining, link, inp.rttMs) : pauseMs(0, link, inp.rttMs);
  const afterSwitchMs = run.converged ? 0 : (run.remaining / link) * 1000;
  return {
    strategy: 'hybrid',
    predictedTotalMs: Math.round(run.sendMs + downtime + afterSwitchMs),
    predictedDowntimeMs: Math.round(downtime),
    predictedWireBytes: Math.round(run.wire + run.remaining + DEVICE_STATE_BYTES),
    meetsMaxDowntime: downtime <= inp.maxDowntimeMs,
    why: run.converged
      ? `pre-copy converges within ${run.rounds} round(s); no post-copy needed`
      : `${run.rounds} pre-copy round(s), then post-copy fetches the last ${mib(run.remaining)}; same risk as post-copy after the switch`,
  };
}

/**
 * Fast links: QEMU to QEMU (`direct`), the agents out of the way — or, when QEMU cannot reach the
 * other QEMU (`noDirect`), the agents relaying its stream as it comes (`passthrough`); slow
 * links: chunks, deduplicated and compressed. A strategy that may switch to post-copy goes
 * `direct` whenever it can, on any link: after the switch the VM lives in two QEMUs joined by the
 * stream, and only a stream between the QEMUs themselves outlives an agent's restart (one relayed
 * by the agents breaks with them, and the guest waits until both QEMUs are recovered).
 */
export function chooseTransport(requested: Transport, linkBytesPerSec: number, noDirect?: string, strategy?: ConcreteStrategy): ConcreteTransport {
  if (requested !== 'auto') return requested;
  if (strategy !== undefined && strategy !== 'precopy' && noDirect === undefined) return 'direct';
  if (linkBytesPerSec < DIRECT_MIN_BYTES_PER_SEC) return 'chunked';
  return noDirect === undefined ? 'direct' : 'passthrough';
}

export function plan(inp: PlannerInput): MigrationPlan {
  const link = Math.max(1, Math.min(inp.linkBytesPerSec, inp.bandwidthBytesPerSec ?? Infinity));
  const { throttle, ...pre } = precopy(inp, link);
  const post = postcopy(inp, link);
  const hyb = hybrid(inp, link);
  const byStrategy: Record<ConcreteStrategy, MigrationPrediction> = { precopy: pre, postcopy: post, hybrid: hyb };
  let chosen: MigrationPrediction;
  if (inp.strategy === 'auto') chosen = pre.meetsMaxDowntime && throttle <= AUTO_MAX_THROTTLE ? pre : hyb;
  else chosen = byStrategy[inp.strategy];
  return {
    vm: inp.vm,
    from: inp.from,
    to: inp.to,
    memoryBytes: inp.memoryBytes,
    dirtyRateBytesPerSec: inp.dirtyRateBytesPerSec,
    linkBytesPerSec: link,
    rttMs: inp.rttMs,
    maxDowntimeMs: inp.maxDowntimeMs,
    transport: chooseTransport(inp.transport, link, inp.noDirect, chosen.strategy),
    candidates: [pre, post, hyb],
    chosen,
  };
}
