// The controller's public REST API (used by the CLI, the web console and scripts) and the
// endpoint agents report to. Every request needs `Authorization: Bearer <token>`: the admin
// token for /api/v1, the cluster secret for /internal/v1 (agents). The OpenAPI description
// is generated from these schemas and checked in as docs/openapi.json.
//
//   GET  /api/v1/status                              -> ClusterStatus
//   GET  /api/v1/hosts                               -> Host[]
//   GET  /api/v1/vms                                 -> Vm[]
//   POST /api/v1/vms                 CreateVmRequest -> 202 Task
//   GET  /api/v1/vms/:name                           -> Vm
//   DELETE /api/v1/vms/:name                         -> 202 Task
//   POST /api/v1/vms/:name/start|pause|resume|suspend|restore  {} -> 202 Task
//   POST /api/v1/vms/:name/stop      StopRequest     -> 202 Task
//   POST /api/v1/vms/:name/clone     CloneVmRequest  -> 202 Task
//   POST /api/v1/vms/:name/resize    ResizeRequest   -> 202 Task
//   GET  /api/v1/vms/:name/console?tailBytes=N       -> text/plain
//   GET  /api/v1/tasks?limit=N                       -> Task[] (newest first)
//   GET  /api/v1/tasks/:id                           -> Task
//   POST /api/v1/tasks/:id/abort                     -> Task
//   (service endpoints and locations: src/contracts/endpoints.ts)
//   GET  /api/v1/events                              -> text/event-stream of ClusterEvent
//   GET  /api/v1/openapi.json                        -> the OpenAPI description
//   POST /internal/v1/heartbeat      AgentHeartbeat  -> { intervalMs }
import { Type, type Static } from '@sinclair/typebox';
import { HostInfo, ResizeRequest, StopRequest } from './agent-api.js';
import { CheckpointRecord, HaEvent, Protection } from './dr.js';
import { ApiErrorBody, FailureSummary } from './errors.js';
import { BalanceDecision } from './balance.js';
import { LoadEvent, MigrationEvent } from './web-console.js';
import { HostLoad, VmLoad } from './metrics.js';
import { LocationEvent } from './endpoints.js';
import { GuardPeers, GuardReport, StaleCopy } from './fence.js';
import { Endpoint, GuestNetwork, VmMetrics, VmSpec, VmSpecInput, VmState, VmStatus } from './vm-spec.js';

export const API_PREFIX = '/api/v1';
export const INTERNAL_PREFIX = '/internal/v1';

export const HostState = Type.Union([Type.Literal('up'), Type.Literal('down')]);
export type HostState = Static<typeof HostState>;

export const Host = Type.Object({
  name: Type.String(),
  site: Type.String(),
  state: HostState,
  url: Type.String(),
  cpus: Type.Integer(),
  memoryMiB: Type.Integer(),
  /** Memory promised to VMs placed on this host (running or not yet stopped). */
  memoryAllocatedMiB: Type.Integer(),
  vcpusAllocated: Type.Integer(),
  vmCount: Type.Integer(),
  accel: Type.String(),
  qemuVersion: Type.String(),
  loadAvg1: Type.Number(),
  memoryFreeMiB: Type.Integer(),
  /** ISO time of the last heartbeat. */
  lastSeen: Type.String(),
  /** Current load from the latest samples (src/contracts/metrics.ts); absent until sampled. */
  load: Type.Optional(HostLoad),
  /** The layer-2 guest network its bridge is on (bridged NICs), if any. */
  guestNetwork: Type.Optional(GuestNetwork),
});
export type Host = Static<typeof Host>;

export const Vm = Type.Object({
  name: Type.String(),
  uuid: Type.String(),
  state: VmState,
  host: Type.String(),
  site: Type.String(),
  memoryMiB: Type.Integer(),
  vcpus: Type.Integer(),
  workload: Type.String(),
  spec: VmSpec,
  metrics: Type.Optional(VmMetrics),
  /** Current load (rates between the latest samples); absent until sampled twice. */
  load: Type.Optional(VmLoad),
  endpoints: Type.Array(Endpoint),
  error: Type.Optional(Type.String()),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});
export type Vm = Static<typeof Vm>;

export const CreateVmRequest = Type.Composite(
  [
    VmSpecInput,
    Type.Object({
      /** Host to place the VM on; otherwise placement picks one. */
      host: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
      /** Start the VM once it is defined (default true). */
      start: Type.Optional(Type.Boolean()),
    }),
  ],
  { additionalProperties: false },
);
export type CreateVmRequest = Static<typeof CreateVmRequest>;

export const CloneVmRequest = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z][a-z0-9-]{0,62}$' }),
    /** Layer the clone's disks on a frozen base instead of copying them (default false). */
    linked: Type.Optional(Type.Boolean()),
    start: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type CloneVmRequest = Static<typeof CloneVmRequest>;

export const TASK_STATES = ['queued', 'running', 'succeeded', 'failed', 'aborted'] as const;
export type TaskState = (typeof TASK_STATES)[number];

export const Task = Type.Object({
  id: Type.String(),
  /** e.g. `vm.create`, `vm.start`, `vm.migrate` */
  kind: Type.String(),
  /** What it acts on, e.g. `vm/web1`. */
  target: Type.String(),
  state: Type.Union(TASK_STATES.map((s) => Type.Literal(s))),
  /** 0..100, never decreases. */
  progress: Type.Number(),
  /** Current step in words. */
  message: Type.String(),
  error: Type.Optional(FailureSummary),
  /** Kind-specific result, e.g. the VM record. */
  result: Type.Optional(Type.Unknown()),
  createdAt: Type.String(),
  startedAt: Type.Optional(Type.String()),
  finishedAt: Type.Optional(Type.String()),
});
export type Task = Static<typeof Task>;

export const ControllerRole = Type.Union([Type.Literal('leader'), Type.Literal('standby')]);
export type ControllerRole = Static<typeof ControllerRole>;

export const ControllerAbout = Type.Object({
  url: Type.String(),
  role: ControllerRole,
  store: Type.Union([Type.Literal('sqlite'), Type.Literal('postgres')]),
  /** The leader's URL, when known (a standby between two leaders knows none). */
  leaderUrl: Type.Optional(Type.String()),
  /** The leader's term (PostgreSQL): grows by one at every election. */
  term: Type.Optional(Type.Integer()),
  pid: Type.Integer(),
});
export type ControllerAbout = Static<typeof ControllerAbout>;

export const ClusterStatus = Type.Object({
  version: Type.String(),
  uptimeSeconds: Type.Number(),
  hosts: Type.Object({ up: Type.Integer(), down: Type.Integer() }),
  vms: Type.Record(Type.String(), Type.Integer()),
  tasksRunning: Type.Integer(),
  /** The controller that answered: its store, and among several sharing PostgreSQL, its role and the leader's URL. */
  controller: Type.Optional(ControllerAbout),
});
export type ClusterStatus = Static<typeof ClusterStatus>;

/** One message on the event stream (`event:` = type, `data:` = JSON of this object). */
export const ClusterEvent = Type.Union([
  Type.Object({ type: Type.Literal('task'), task: Task }),
  Type.Object({ type: Type.Literal('vm'), vm: Vm }),
  Type.Object({ type: Type.Literal('vm.removed'), name: Type.String() }),
  Type.Object({ type: Type.Literal('host'), host: Host }),
  /** A checkpoint committed at the DR host (src/contracts/dr.ts). */
  Type.Object({ type: Type.Literal('dr.checkpoint'), checkpoint: CheckpointRecord }),
  /** A protection's RPO alarm was raised, changed its reason, or cleared (then no reason). */
  Type.Object({ type: Type.Literal('dr.alarm'), vm: Type.String(), raised: Type.Boolean(), reason: Type.Optional(Type.String()) }),
  /** A protection was created or changed state; without `protection` it was removed (unprotect). */
  Type.Object({ type: Type.Literal('dr.state'), vm: Type.String(), protection: Type.Optional(Protection) }),
  /** High availability waits for, cannot do, or has started the failover of a VM whose host is down. */
  HaEvent,
  /** The load balancer decided or did something (src/contracts/balance.ts). */
  Type.Object({ type: Type.Literal('balance.decision'), decision: BalanceDecision }),
  /** Every host's and VM's current load, every 2 s while anyone listens (src/contracts/web-console.ts). */
  LoadEvent,
  /** A migration's record with its live progress while it runs, and once more when it ends. */
  MigrationEvent,
  /** A VM's location changed (src/contracts/endpoints.ts). */
  LocationEvent,
]);
export type ClusterEvent = Static<typeof ClusterEvent>;

/** Agents push this every `intervalMs` (default 1000); a host silent for 3 intervals is down. */
export const AgentHeartbeat = Type.Object(
  {
    host: HostInfo,
    vms: Type.Array(VmStatus),
    /** PEM certificate signing request for the key the host joined with, sent once its certificate is due for renewal until a new one is issued. */
    csr: Type.Optional(Type.String({ maxLength: 16384 })),
    /** The host's fence guard, as the agent found it (src/contracts/fence.ts). */
    guard: Type.Optional(GuardReport),
  },
  { additionalProperties: false },
);
export type AgentHeartbeat = Static<typeof AgentHeartbeat>;

/** The controller's answer to a heartbeat; carries the host certificate once the CSR is signed. */
export const HeartbeatReply = Type.Object({
  intervalMs: Type.Integer(),
  /** The renewed PEM host certificate (CN = host name, same key), answering the heartbeat's CSR. The agent keeps the CA it pinned at join. */
  certificate: Type.Optional(Type.String()),
  /** The key the hosts' fence guards authenticate their pings with (derived from the cluster CA's key; every enrolled host has it). */
  fenceKey: Type.Optional(Type.String({ maxLength: 128 })),
  /** Why the heartbeat's CSR was not signed (e.g. made out to another host). The lease is renewed all the same. */
  csrRefused: Type.Optional(ApiErrorBody.properties.error),
  /**
   * High availability lease: these VMs of the host may be restarted elsewhere if the host is cut
   * off. Each reply renews the lease; once `leaseMs` passes without one, the host's fence guard
   * SIGKILLs them unless it still reaches a quorum of its peers (src/agent/fence/decide.ts), and
   * the controller waits longer than that, and for the peers' word, before restarting them, so a
   * VM never runs twice (docs/dr.md). Absent or empty: nothing to fence.
   */
  fence: Type.Optional(Type.Object({ leaseMs: Type.Integer({ minimum: 1000 }), vms: Type.Array(Type.String()) })),
  /** The other hosts' fence guards, for this host's guard to ping (its isolation check). */
  peers: Type.Optional(GuardPeers),
  /** Copies of VMs on this host that run elsewhere now: the agent kills them at once. */
  kill: Type.Optional(Type.Array(StaleCopy)),
});
export type HeartbeatReply = Static<typeof HeartbeatReply>;

export { ResizeRequest, StopRequest, VmSpecInput };
