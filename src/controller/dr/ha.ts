// High availability without split brain: the decision, as a pure function of one protection's
// snapshot. ha-watcher.ts carries it out; docs/dr.md ("High availability") tells the whole story.
//
// Who may start a VM elsewhere: only this decision, and only when the old copy is provably gone —
// (a) the host's own fence guard says the VM's QEMU no longer runs there (heard by a peer after
//     the host's agent last spoke: an agent killed with its QEMU, a host whose guard fenced), or
// (b) the host is cut off: its lease has run out (plus a margin) and enough other hosts do not
//     hear its guard that it cannot reach a quorum of peers — so its guard, which holds on past
//     the lease only while it reaches a quorum (src/agent/fence/decide.ts), has SIGKILLed the VM.
// A host that some peer still hears is not cut off: its guard keeps its VMs running (an agent
// that crashed or hangs, a controller that cannot reach it), so nothing restarts them elsewhere.
//
// The lease (HeartbeatReply.fence): every heartbeat reply names the host's protected VMs. The
// times are the controller's monotonic clock; the agent counts from the moment the reply
// arrived, which is later than the moment it was sent, so the guard's lease always runs out
// before the controller's view of it does — by the margin's reckoning. A peer's contact is
// noted at most a ping's timeout apart on the two sides; the margin covers that too.
import type { ProtectionState } from '../../contracts/dr.js';
import { GUARD_WINDOW_MS, quorumPeers } from '../../contracts/fence.js';
import type { HostEvidence, Witness } from '../host-witness.js';
import { seconds } from '../../contracts/format.js';

/** How long a heartbeat reply's lease lasts (ControllerOptions.haLeaseMs overrides it). */
export const HA_LEASE_MS = 5000;
/**
 * The longest an agent waits for a heartbeat reply (HEARTBEAT_TIMEOUT_MS in
 * src/agent/heartbeat.ts): a reply can reach the agent that much after the controller sent it.
 */
export const AGENT_REPLY_LIMIT_MS = 5000;
/**
 * Waited beyond the lease before acting: a reply delayed as long as an agent accepts one, plus
 * a second for the agent's fence check (every 200 ms) and the kill itself.
 */
export const HA_MARGIN_MS = AGENT_REPLY_LIMIT_MS + 1000;
// The isolation evidence needs less of it: a contact is noted at most GUARD_PING_TIMEOUT_MS apart
// on the two sides, and a guard fences within a tick of its window (src/agent/fence/guard.ts).

/** The last heartbeat reply sent to a host: when (monotonic ms) and the VMs its lease named. */
export interface SentLease {
  at: number;
  vms: readonly string[];
}

export interface HaInput {
  vm: string;
  uuid: string;
  /** ProtectRequest.ha: false turns high availability off for this VM. */
  ha: boolean;
  state: ProtectionState;
  /** Committed checkpoints at the DR host. */
  checkpoints: number;
  /** The VM as its record last showed it. */
  vmState: string;
  host: string;
  hostUp: boolean;
  targetHost: string;
  targetUp: boolean;
  lease?: SentLease;
  /** What the other hosts' guards hear of the VM's host (HostMonitor.evidence). */
  evidence: HostEvidence;
  leaseMs: number;
  marginMs: number;
  /** Monotonic ms, the clock of `lease.at`. */
  now: number;
  /** A task holding the VM (e.g. a failover, a migration): in words. */
  busy?: string;
  /** After a failed attempt: not before this (monotonic ms). */
  retryAt?: number;
}

export type HaCode = 'NOT_LEASED' | 'HOST_ALIVE' | 'NO_QUORUM' | 'NO_CHECKPOINT' | 'DR_HOST_DOWN' | 'BUSY' | 'RETRY_LATER';

export type HaVerdict =
  | { action: 'none' }
  /** The lease may still be live: nothing may start the VM elsewhere before `actAt`. */
  | { action: 'wait'; actAt: number; reason: string }
  | { action: 'blocked'; code: HaCode; reason: string }
  | { action: 'failover'; reason: string };

/** The VMs a heartbeat reply to `host` leases: protected with HA on, not failed over, running there. */
export function leasedVms(
  protections: readonly { vm: string; ha?: boolean; state: ProtectionState }[],
  hostOf: (vm: string) => string | undefined,
  host: string,
): string[] {
  return protections.filter((p) => p.ha !== false && p.state !== 'failed-over' && hostOf(p.vm) === host).map((p) => p.vm);
}

export function decideHa(i: HaInput): HaVerdict {
  // HA restarts what ran: not a VM its owner stopped, nor one whose host still answers.
  if (!i.ha || i.state === 'failed-over' || i.hostUp || i.vmState !== 'running') return { action: 'none' };
  const down = `host ${i.host} of VM ${i.vm} is down`;
  const gone = goneBy(i);
  if (gone) return ready(i, `${down}, and its fence guard says the VM's QEMU no longer runs there (heard by ${gone.host})`);
  const hearing = i.evidence.witnesses.filter((w) => w.heardAt !== undefined && i.now - w.heardAt <= GUARD_WINDOW_MS + i.marginMs);
  if (hearing.length > 0) {
    const self = hearing.find((w) => w.self)?.self;
    const what = self ? ` (its agent ${self.agent}${self.vms.some((v) => v.uuid === i.uuid && v.running) ? ', the VM running' : ''})` : '';
    return { action: 'blocked', code: 'HOST_ALIVE', reason: `${down}, but its fence guard still answers ${hearing.map((w) => w.host).join(', ')}${what}: it is not cut off and keeps the VM, so the VM is not started elsewhere` };
  }
  if (!i.lease?.vms.includes(i.vm)) {
    return { action: 'blocked', code: 'NOT_LEASED', reason: `${down}, but no lease on the VM was sent to it, so it may not have stopped the VM: fence the host, then fail over by hand` };
  }
  const actAt = i.lease.at + i.leaseMs + i.marginMs;
  if (i.now <= actAt) {
    return { action: 'wait', actAt, reason: `${down}; its lease runs out ${seconds(i.leaseMs)} after the last reply (${seconds(Math.max(0, i.now - i.lease.at))} ago), failover after ${seconds(i.marginMs)} more` };
  }
  const silent = `${down} and its lease ran out (no reply for ${seconds(i.now - i.lease.at)}, lease ${seconds(i.leaseMs)})`;
  const deaf = i.evidence.witnesses.filter((w) => testifies(w, i));
  const need = i.evidence.hosts - quorumPeers(i.evidence.hosts);
  if (deaf.length < need) {
    return { action: 'blocked', code: 'NO_QUORUM', reason: `${silent}, but only ${deaf.length} of the other hosts can say they do not hear it (${need} needed): it may still reach a quorum and keep the VM` };
  }
  return ready(i, `${silent}, and ${deaf.length} of ${i.evidence.hosts - 1} other hosts do not hear it: it is cut off and has fenced itself`);
}

/** The last word of the host's guard on this VM, if it says the VM's QEMU is gone. */
function goneBy(i: HaInput): Witness | undefined {
  let latest: Witness | undefined;
  for (const w of i.evidence.witnesses) {
    if (!w.fresh || w.heardAt === undefined || !w.self?.vms.some((v) => v.uuid === i.uuid)) continue;
    if (!latest || w.heardAt > latest.heardAt!) latest = w;
  }
  if (!latest || latest.self!.vms.find((v) => v.uuid === i.uuid)!.running) return undefined;
  // Said after the host's agent last spoke: the agent cannot have started it again since.
  return i.evidence.agentLastSeenAt === undefined || latest.heardAt! >= i.evidence.agentLastSeenAt ? latest : undefined;
}

/** A fresh witness that has not heard the host's guard for longer than a guard holds on. */
function testifies(w: Witness, i: HaInput): boolean {
  if (!w.fresh || w.guard === 'unknown') return false;
  return w.heardAt === undefined || i.now - w.heardAt > GUARD_WINDOW_MS + i.marginMs;
}

/** The old copy is gone: fail over unless something else stands in the way. */
function ready(i: HaInput, why: string): HaVerdict {
  if (i.checkpoints === 0) return { action: 'blocked', code: 'NO_CHECKPOINT', reason: `${why}, but no checkpoint has committed at ${i.targetHost}` };
  if (!i.targetUp) return { action: 'blocked', code: 'DR_HOST_DOWN', reason: `${why}, but DR host ${i.targetHost} is down too` };
  if (i.busy !== undefined) return { action: 'blocked', code: 'BUSY', reason: `${why}; waiting for ${i.busy}` };
  if (i.retryAt !== undefined && i.now < i.retryAt) return { action: 'blocked', code: 'RETRY_LATER', reason: `${why}; the last failover failed, next try in ${seconds(i.retryAt - i.now)}` };
  return { action: 'failover', reason: why };
}
