// What the per-host fence guard (src/agent/fence) says on the wire: to its peer guards (the
// ping), and through its agent's heartbeat to the controller (GuardReport). docs/dr.md ("High
// availability") tells the whole model. Times are ages in ms ("how long ago"), never clock
// readings: two hosts' clocks are not comparable, an age measured on one clock is.
import { Type, type Static } from '@sinclair/typebox';

/** Whether the host's agent process runs, is stopped (SIGSTOP, a debugger) or is gone. */
export const AgentLiveness = Type.Union([Type.Literal('running'), Type.Literal('stopped'), Type.Literal('gone')]);
export type AgentLiveness = Static<typeof AgentLiveness>;

/** A leased VM as the guard of its host sees it: does a QEMU with its uuid run on that host? */
export const GuardVm = Type.Object({ name: Type.String(), uuid: Type.String(), running: Type.Boolean() }, { additionalProperties: false });
export type GuardVm = Static<typeof GuardVm>;

/** What a guard tells its peers about its own host with every ping. */
export const GuardSelf = Type.Object({ agent: AgentLiveness, vms: Type.Array(GuardVm, { maxItems: 4096 }) }, { additionalProperties: false });
export type GuardSelf = Static<typeof GuardSelf>;

/** POST /fence/v1/ping (guard → peer guard, cluster secret): "I am alive and this is my host". */
export const GuardPing = Type.Object({ from: Type.String({ minLength: 1, maxLength: 253 }), self: GuardSelf }, { additionalProperties: false });
export type GuardPing = Static<typeof GuardPing>;
export const GuardPingReply = Type.Object({ host: Type.String() });
export type GuardPingReply = Static<typeof GuardPingReply>;

/** The last contact between this host's guard and a peer's (a ping either way that got through). */
export const GuardContact = Type.Object(
  {
    host: Type.String(),
    agoMs: Type.Integer({ minimum: 0 }),
    /** What the peer's guard said about its host with its last ping to us. */
    self: Type.Optional(GuardSelf),
  },
  { additionalProperties: false },
);
export type GuardContact = Static<typeof GuardContact>;

/**
 * AgentHeartbeat.guard: the host's fence guard as its agent found it. `running`: its status is
 * fresh and `contacts` says whom it heard from; `unknown`: a guard process exists but its status
 * is stale (hung, or its disk fails), so it cannot vouch for anything. No `guard` at all: no
 * guard runs on the host, so nobody can have reached it.
 */
export const GuardReport = Type.Object(
  {
    state: Type.Union([Type.Literal('running'), Type.Literal('unknown')]),
    url: Type.Optional(Type.String()),
    contacts: Type.Array(GuardContact, { maxItems: 1024 }),
    /** VMs this guard SIGKILLed because the host was cut off after its lease ran out. */
    fenced: Type.Array(Type.Object({ vm: Type.String(), uuid: Type.String(), agoMs: Type.Integer({ minimum: 0 }) }, { additionalProperties: false }), { maxItems: 4096 }),
  },
  { additionalProperties: false },
);
export type GuardReport = Static<typeof GuardReport>;

/** HeartbeatReply.peers: whom the host's guard pings, and how many hosts the cluster has. */
export const GuardPeers = Type.Object({
  /** Every host of the cluster, this one included: a guard holds on only while it reaches a quorum. */
  hosts: Type.Integer({ minimum: 1 }),
  guards: Type.Array(Type.Object({ host: Type.String(), url: Type.String() })),
});
export type GuardPeers = Static<typeof GuardPeers>;

/** HeartbeatReply.kill: copies of VMs that run elsewhere now; the agent SIGKILLs each on sight. */
export const StaleCopy = Type.Object({ vm: Type.String(), uuid: Type.String(), reason: Type.String() });
export type StaleCopy = Static<typeof StaleCopy>;

/**
 * A guard counts a peer as reachable for this long after the last ping that got through; the
 * controller waits this long plus its margin after a peer last heard a host before it believes
 * the host cut off (src/controller/dr/ha.ts).
 */
export const GUARD_WINDOW_MS = 3000;
/** How long a guard's ping may take (a contact can be noted this much later on one side). */
export const GUARD_PING_TIMEOUT_MS = 1000;

/** How many peers (not counting the host itself) a guard must reach to hold on without a lease. */
export function quorumPeers(hosts: number): number {
  return Math.max(1, Math.floor(hosts / 2));
}
