// The fence guard's decision, as a pure function of (state, lease, contacts, clock): whether the
// host may keep its leased VMs or must SIGKILL them now. docs/dr.md ("High availability") tells
// the model; the rule in one line: while the lease runs, hold; once it has run out, hold only
// while this host reaches a quorum of its peer guards (it is not cut off, so the controller will
// not restart its VMs elsewhere either: src/controller/dr/ha.ts on the controller asks the same
// peers); otherwise fence, before the controller may act.
//
//            feed names VMs                 lease ends, quorum reached
//   idle ─────────────────▶ leased ─────────────────────────────────▶ holding
//    ▲  ◀── no VMs leased ──  │  ▲ ◀──────────── renewed ───────────────  │
//    │                        │  lease ends, cut off       cut off        │
//    │                        └────────────────▶ fencing ◀────────────────┘
//    │                                              │ every leased QEMU SIGKILLed at once
//    └──────────── no VMs leased ─────────────── fenced ── a newer lease ──▶ leased
import { quorumPeers } from '../../contracts/fence.js';

export const GUARD_STATES = ['idle', 'leased', 'holding', 'fencing', 'fenced'] as const;
export type GuardState = (typeof GUARD_STATES)[number];

/** Every move the guard may make; anything else is a bug (GuardTransitionError). */
export const GUARD_TRANSITIONS: Readonly<Record<GuardState, readonly GuardState[]>> = {
  idle: ['leased', 'holding', 'fencing'], // a guard (re)started on a lease that ran out meanwhile
  leased: ['idle', 'holding', 'fencing'],
  holding: ['idle', 'leased', 'fencing'],
  fencing: ['fenced'],
  fenced: ['idle', 'leased', 'holding', 'fencing'],
};

export class GuardTransitionError extends Error {
  readonly code = 'GUARD_TRANSITION';
  constructor(from: GuardState, to: GuardState) {
    super(`fence guard: no transition from ${from} to ${to}`);
  }
}

export function assertTransition(from: GuardState, to: GuardState): void {
  if (from !== to && !GUARD_TRANSITIONS[from].includes(to)) throw new GuardTransitionError(from, to);
}

/** Timing of the guard (see GUARD_TIMING for the values used). */
export interface GuardTiming {
  /** A contact older than this does not count: the peer may be gone. */
  windowMs: number;
  /** Fence this long before the lease ends, so the kill is done by then. */
  aheadMs: number;
}

export interface GuardInput {
  state: GuardState;
  /** Monotonic ms. */
  now: number;
  lease?: { expiresAtMs: number; vms: number };
  /** expiresAtMs of the lease the guard fenced: it stays fenced until a newer one arrives. */
  fencedLeaseEndsAt?: number;
  /** Monotonic ms of the last contact with each peer guard. */
  contacts: readonly number[];
  /** Hosts in the cluster, this one included (1 if unknown: then no quorum is possible). */
  hosts: number;
  timing: GuardTiming;
}

/** True if this host reaches enough peer guards to count as not cut off. */
export function reachesQuorum(contacts: readonly number[], hosts: number, now: number, windowMs: number): boolean {
  if (hosts <= 1) return false;
  return contacts.filter((at) => now - at < windowMs).length >= quorumPeers(hosts);
}

/** The state the guard must be in now; `fencing` means: SIGKILL every leased QEMU at once. */
export function decideGuard(i: GuardInput): GuardState {
  if (i.state === 'fencing') return 'fencing'; // the kill is under way; only its end moves on
  if (!i.lease || i.lease.vms === 0) return 'idle';
  if (i.state === 'fenced' && (i.fencedLeaseEndsAt === undefined || i.lease.expiresAtMs <= i.fencedLeaseEndsAt)) return 'fenced';
  if (i.now < i.lease.expiresAtMs - i.timing.aheadMs) return 'leased';
  return reachesQuorum(i.contacts, i.hosts, i.now, i.timing.windowMs) ? 'holding' : 'fencing';
}
