// High availability without split brain: the decision, as a pure function of one protection's
// snapshot. ha-watcher.ts carries it out; docs/dr.md ("High availability") tells the whole story.
//
// The lease (HeartbeatReply.fence): every heartbeat reply names the host's protected VMs, and an
// agent that gets no reply for `leaseMs` kills those VMs' QEMU itself (src/agent/fencing.ts). So
// once a host has been sent no reply for longer than the lease, plus a margin for what could have
// delayed the agent's copy of the last one, a VM that reply named no longer runs there, and may
// be restarted at its DR host. The times are the controller's monotonic clock; the agent counts
// from the moment the reply arrived, which is later than the moment it was sent, so the agent's
// lease always runs out before the controller's view of it does — by the margin's reckoning.
import type { ProtectionState } from '../../contracts/dr.js';
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

/** The last heartbeat reply sent to a host: when (monotonic ms) and the VMs its lease named. */
export interface SentLease {
  at: number;
  vms: readonly string[];
}

export interface HaInput {
  vm: string;
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
  leaseMs: number;
  marginMs: number;
  /** Monotonic ms, the clock of `lease.at`. */
  now: number;
  /** A task holding the VM (e.g. a failover, a migration): in words. */
  busy?: string;
  /** After a failed attempt: not before this (monotonic ms). */
  retryAt?: number;
}

export type HaCode = 'NOT_LEASED' | 'NO_CHECKPOINT' | 'DR_HOST_DOWN' | 'BUSY' | 'RETRY_LATER';

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
  if (!i.lease?.vms.includes(i.vm)) {
    return { action: 'blocked', code: 'NOT_LEASED', reason: `${down}, but no lease on the VM was sent to it, so it may not have stopped the VM: fence the host, then fail over by hand` };
  }
  const actAt = i.lease.at + i.leaseMs + i.marginMs;
  if (i.now <= actAt) {
    return { action: 'wait', actAt, reason: `${down}; its lease runs out ${seconds(i.leaseMs)} after the last reply (${seconds(Math.max(0, i.now - i.lease.at))} ago), failover after ${seconds(i.marginMs)} more` };
  }
  const silent = `${down} and its lease ran out (no reply for ${seconds(i.now - i.lease.at)}, lease ${seconds(i.leaseMs)})`;
  if (i.checkpoints === 0) return { action: 'blocked', code: 'NO_CHECKPOINT', reason: `${silent}, but no checkpoint has committed at ${i.targetHost}` };
  if (!i.targetUp) return { action: 'blocked', code: 'DR_HOST_DOWN', reason: `${silent}, but DR host ${i.targetHost} is down too` };
  if (i.busy !== undefined) return { action: 'blocked', code: 'BUSY', reason: `${silent}; waiting for ${i.busy}` };
  if (i.retryAt !== undefined && i.now < i.retryAt) return { action: 'blocked', code: 'RETRY_LATER', reason: `${silent}; the last failover failed, next try in ${seconds(i.retryAt - i.now)}` };
  return { action: 'failover', reason: silent };
}
