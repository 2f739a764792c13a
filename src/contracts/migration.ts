// Live migration contracts: the user's request and the plan/record the controller keeps
// (controller API), and the calls the controller makes on the source and target agents to
// carry out the seven steps (agent API). The data itself moves agent-to-agent over
// ferry-wire (src/ferry-wire, docs/ferry-wire.md), never through the controller.
//
// Controller API (admin token):
//   POST /api/v1/vms/:name/migrate   MigrateRequest  -> 202 Task (kind vm.migrate; result MigrationRecord)
//                                                      or 200 MigrationPlan when dryRun
//   GET  /api/v1/migrations?vm=NAME                  -> MigrationRecord[] (newest first)
//   GET  /api/v1/migrations/:id                      -> MigrationRecord
//
// Agent API (cluster secret), the seven steps:
//   1 pre-migration   controller: target up, not the source, VM running, capacity; planner
//   -                 POST /agent/v1/migrations/measure     MeasureRequest -> MeasureResult (source agent:
//                       dirty rate via calc-dirty-rate, and link speed/RTT to the target's data endpoint)
//   2 reservation     POST /agent/v1/migrations/incoming    IncomingMigrationRequest -> MigrationProgress
//                       (target agent: reserve, create disks, start QEMU -incoming, expect the session)
//   3-5 transfer      POST /agent/v1/migrations/outgoing    OutgoingMigrationRequest -> MigrationProgress
//                       (source agent: connects to the target's data endpoint, runs QEMU's migration
//                       through ferry-wire; returns at once, progress by polling)
//                     GET  /agent/v1/migrations/:id         -> MigrationProgress (either side; QEMU's
//                       status as `qemuStatus`: which step that is, the controller decides)
//   6 commitment      POST /agent/v1/migrations/:id/commit  (target first: confirms the VM runs there and
//                       announces it; then source: discards its copy — QEMU quit, files removed)
//   -  abort          POST /agent/v1/migrations/:id/abort   (either side, idempotent: source cancels and
//                       makes sure the VM runs at the source; target kills its QEMU, removes its files)
//   7 activation      target's commit announces (announce-self); the controller records the new host.
import { Type, type Static } from '@sinclair/typebox';
import { FailureSummary } from './errors.js';
import { VmSpec } from './vm-spec.js';

export const MIGRATION_STRATEGIES = ['auto', 'precopy', 'postcopy'] as const;
export const MigrationStrategy = Type.Union(MIGRATION_STRATEGIES.map((s) => Type.Literal(s)));
export type MigrationStrategy = (typeof MIGRATION_STRATEGIES)[number];
/** A concrete strategy: `hybrid` starts pre-copy and switches to post-copy if rounds stop converging. */
export const ConcreteStrategy = Type.Union([Type.Literal('precopy'), Type.Literal('postcopy'), Type.Literal('hybrid')]);
export type ConcreteStrategy = Static<typeof ConcreteStrategy>;

/**
 * How the bytes move between the hosts. All three are mutually authenticated with the cluster
 * CA's host certificates and encrypted.
 * - `direct`: QEMU to QEMU over QEMU's own TLS (multifd for pre-copy); the agents set it up,
 *   authorize the peer and watch it over a ferry-wire control session, but stay out of the
 *   data path (fast links).
 * - `passthrough`: QEMU's stream relayed by the agents over ferry-wire as it comes.
 * - `chunked`: ferry-wire's content-addressed, deduplicated, compressed chunks (slow links).
 */
export const ConcreteTransport = Type.Union([Type.Literal('direct'), Type.Literal('passthrough'), Type.Literal('chunked')]);
export type ConcreteTransport = Static<typeof ConcreteTransport>;
export const Transport = Type.Union([Type.Literal('auto'), ...ConcreteTransport.anyOf]);
export type Transport = Static<typeof Transport>;

export const MIGRATION_STEPS = ['pre-migration', 'reservation', 'initial-transfer', 'iterative-transfer', 'stop-and-copy', 'commitment', 'activation'] as const;
export type MigrationStep = (typeof MIGRATION_STEPS)[number];

export const MigrateRequest = Type.Object(
  {
    to: Type.String({ minLength: 1, maxLength: 100 }),
    strategy: Type.Optional(MigrationStrategy),
    /** Longest acceptable pause of the VM (QEMU downtime-limit), default 300. */
    maxDowntimeMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 60_000 })),
    /** Cap on bytes per second on the wire. */
    bandwidthBytesPerSec: Type.Optional(Type.Integer({ minimum: 65536 })),
    transport: Type.Optional(Transport),
    dryRun: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type MigrateRequest = Static<typeof MigrateRequest>;

export const MigrationPrediction = Type.Object({
  strategy: ConcreteStrategy,
  predictedTotalMs: Type.Number(),
  predictedDowntimeMs: Type.Number(),
  predictedWireBytes: Type.Number(),
  meetsMaxDowntime: Type.Boolean(),
  /** One line: why this prediction (rounds, convergence). */
  why: Type.String(),
});
export type MigrationPrediction = Static<typeof MigrationPrediction>;

export const MigrationPlan = Type.Object({
  vm: Type.String(),
  from: Type.String(),
  to: Type.String(),
  memoryBytes: Type.Number(),
  dirtyRateBytesPerSec: Type.Number(),
  linkBytesPerSec: Type.Number(),
  rttMs: Type.Number(),
  maxDowntimeMs: Type.Number(),
  transport: ConcreteTransport,
  candidates: Type.Array(MigrationPrediction),
  chosen: MigrationPrediction,
});
export type MigrationPlan = Static<typeof MigrationPlan>;

export const MigrationOutcome = Type.Union([Type.Literal('running'), Type.Literal('succeeded'), Type.Literal('failed'), Type.Literal('aborted')]);

/** Every migration's record (DESIGN: strategy, outcome, downtimeMs, totalMs, memoryBytes, wireBytes at least). */
export const MigrationRecord = Type.Object({
  id: Type.String(),
  vm: Type.String(),
  from: Type.String(),
  to: Type.String(),
  strategy: ConcreteStrategy,
  transport: Type.String(),
  outcome: MigrationOutcome,
  step: Type.String(),
  /** Dirty-sync rounds QEMU ran. */
  rounds: Type.Integer(),
  dirtyRateBytesPerSec: Type.Number(),
  predictedDowntimeMs: Type.Number(),
  predictedTotalMs: Type.Number(),
  /** Downtime as QEMU reports it. */
  downtimeMs: Type.Number(),
  /** Downtime as seen from outside: the largest gap in the guest's heartbeat around the switch. */
  observedDowntimeMs: Type.Optional(Type.Number()),
  totalMs: Type.Number(),
  /** Guest memory size. */
  memoryBytes: Type.Number(),
  /** Bytes QEMU's migration stream carried. */
  streamBytes: Type.Number(),
  /** Bytes on the wire between the agents (after dedup/compression, including framing). */
  wireBytes: Type.Number(),
  switchedToPostcopy: Type.Boolean(),
  error: Type.Optional(FailureSummary),
  startedAt: Type.String(),
  finishedAt: Type.Optional(Type.String()),
});
export type MigrationRecord = Static<typeof MigrationRecord>;

// --- agent API ---------------------------------------------------------------------------

export const MeasureRequest = Type.Object(
  { vm: Type.String(), targetHost: Type.String(), targetDataUrl: Type.String(), dirtyRateSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 10 })) },
  { additionalProperties: false },
);
export type MeasureRequest = Static<typeof MeasureRequest>;

export const MeasureResult = Type.Object({
  memoryBytes: Type.Number(),
  dirtyRateBytesPerSec: Type.Number(),
  linkBytesPerSec: Type.Number(),
  rttMs: Type.Number(),
});
export type MeasureResult = Static<typeof MeasureResult>;

export const IncomingMigrationRequest = Type.Object(
  {
    migrationId: Type.String({ minLength: 8, maxLength: 64 }),
    spec: VmSpec,
    sourceHost: Type.String(),
    strategy: ConcreteStrategy,
    /** The VM's disks are local to the source: create empty ones and take them over NBD. */
    copyDisks: Type.Boolean(),
    /** `direct`: the target QEMU listens for the source QEMU's TLS connection itself (default passthrough). */
    transport: Type.Optional(ConcreteTransport),
    /**
     * The target keeps the guest paused (-S) once it has the whole VM and kills it unless the
     * controller's commit arrives within this many ms (default 60 s): a VM never runs on both hosts.
     */
    commitTimeoutMs: Type.Optional(Type.Integer({ minimum: 1000, maximum: 600_000 })),
  },
  { additionalProperties: false },
);
export type IncomingMigrationRequest = Static<typeof IncomingMigrationRequest>;

export const OutgoingMigrationRequest = Type.Object(
  {
    migrationId: Type.String({ minLength: 8, maxLength: 64 }),
    vm: Type.String(),
    targetHost: Type.String(),
    /** The target agent's ferry-wire endpoint, e.g. `ferry-wire://127.0.0.1:41234`. */
    targetDataUrl: Type.String(),
    strategy: ConcreteStrategy,
    maxDowntimeMs: Type.Integer({ minimum: 1 }),
    bandwidthBytesPerSec: Type.Optional(Type.Integer({ minimum: 65536 })),
    transport: ConcreteTransport,
    /** With transport `direct`: the port the target's QEMU listens on (its `listenPort`), on the data URL's host. */
    targetDirectPort: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    copyDisks: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type OutgoingMigrationRequest = Static<typeof OutgoingMigrationRequest>;

/**
 * QEMU's migration status as the agent last saw it (QEMU 10's MigrationStatus, qapi/migration.json,
 * from its MIGRATION events), plus one phase of Ferry's own: `mirroring-disks`, while the source
 * copies local disks over NBD before QEMU's memory migration starts (QEMU's status says nothing
 * then). The agent reports this; the controller names the step (controller/migration/steps.ts).
 */
export const QEMU_MIGRATION_STATUSES = [
  'none', 'setup', 'cancelling', 'cancelled', 'active', 'postcopy-active', 'postcopy-paused', 'postcopy-recover-setup',
  'postcopy-recover', 'completed', 'failed', 'colo', 'pre-switchover', 'device', 'wait-unplug',
] as const;
export const MIGRATION_QEMU_STATUSES = [...QEMU_MIGRATION_STATUSES, 'mirroring-disks'] as const;
export const MigrationQemuStatus = Type.Union(MIGRATION_QEMU_STATUSES.map((s) => Type.Literal(s)));
export type MigrationQemuStatus = (typeof MIGRATION_QEMU_STATUSES)[number];

export const MigrationProgress = Type.Object({
  id: Type.String(),
  role: Type.Union([Type.Literal('source'), Type.Literal('target')]),
  state: Type.Union([Type.Literal('reserved'), Type.Literal('active'), Type.Literal('completed'), Type.Literal('committed'), Type.Literal('failed'), Type.Literal('aborted')]),
  qemuStatus: MigrationQemuStatus,
  /** 0..100, never decreases. */
  percent: Type.Number(),
  etaMs: Type.Optional(Type.Number()),
  rounds: Type.Integer(),
  memoryBytes: Type.Number(),
  remainingBytes: Type.Number(),
  streamBytes: Type.Number(),
  wireBytes: Type.Number(),
  dirtyRateBytesPerSec: Type.Number(),
  downtimeMs: Type.Optional(Type.Number()),
  totalMs: Type.Optional(Type.Number()),
  switchedToPostcopy: Type.Boolean(),
  /** Target of a `direct` migration: the TCP port its QEMU listens on for the source QEMU. */
  listenPort: Type.Optional(Type.Integer()),
  /** `code` is one of contracts/errors.ts's FailureCode (a string on the wire). */
  error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String() })),
});
export type MigrationProgress = Static<typeof MigrationProgress>;

/**
 * Abort of either side. At the source, once QEMU completed (the target may hold the whole VM),
 * the VM resumes there only with `targetGone`: the controller has heard from the target that its
 * copy is gone (aborted or failed, QEMU killed) and can never run. Without it that abort is refused.
 */
export const AbortMigrationRequest = Type.Optional(Type.Object({ targetGone: Type.Optional(Type.Boolean()) }, { additionalProperties: false }));
export type AbortMigrationRequest = Static<typeof AbortMigrationRequest>;
