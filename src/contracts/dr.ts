// Disaster recovery contracts: protecting a VM with continuous checkpoints to another site,
// the checkpoints' records, failover/test/failback, and the calls the controller makes on the
// agents. Checkpoint bytes move agent-to-agent over ferry-wire (chunked mode, deduplicated
// against the DR host's chunk store), never through the controller. Design: docs/dr.md.
//
// Controller API (admin token):
//   POST   /api/v1/dr/protections               ProtectRequest  -> 201 Protection
//   GET    /api/v1/dr/protections                               -> Protection[]   (`ferry dr status`)
//   GET    /api/v1/dr/protections/:vm                           -> Protection
//   DELETE /api/v1/dr/protections/:vm                           -> Protection      (stops replication, frees the DR copies)
//   GET    /api/v1/dr/protections/:vm/checkpoints               -> CheckpointRecord[] (newest first)
//   POST   /api/v1/dr/protections/:vm/failover  FailoverRequest -> 202 Task (result FailoverReport)
//   POST   /api/v1/dr/protections/:vm/failback  {}              -> 202 Task (result FailoverReport)
//   GET    /api/v1/dr/reports?vm=NAME                           -> FailoverReport[] (newest first; DR test evidence)
//
// Agent API (cluster secret):
//   POST   /agent/v1/dr/receive      ReceiveCheckpointRequest -> CheckpointProgress   (DR host: expect a session)
//   POST   /agent/v1/dr/send         SendCheckpointRequest    -> CheckpointProgress   (protected host: capture + send; async)
//   GET    /agent/v1/dr/jobs/:id                              -> CheckpointProgress   (either side)
//   POST   /agent/v1/dr/jobs/:id/abort                        -> CheckpointProgress
//   GET    /agent/v1/dr/store/:vm                             -> StoredCheckpoint[]   (committed, newest first)
//   DELETE /agent/v1/dr/store/:vm                             -> { freedBytes }
//   POST   /agent/v1/dr/restore      RestoreRequest           -> VmStatus             (start a VM from a stored checkpoint)
//   POST   /agent/v1/dr/scrub                                 -> ScrubReport
import { Type, type Static } from '@sinclair/typebox';
import { FailureCodeString, FailureSummary } from './errors.js';
import { VmSpec } from './vm-spec.js';
import { ERROR_CODES, OPERATION_ERROR_CODES, WIRE_ERROR_CODES, type FailureCode } from './errors.js';

const FAILURE_CODE_LIST: readonly FailureCode[] = [...ERROR_CODES, ...WIRE_ERROR_CODES, ...OPERATION_ERROR_CODES];

const Name = Type.String({ minLength: 1, maxLength: 100 });

export const ProtectRequest = Type.Object(
  {
    vm: Name,
    /** The DR site; must differ from the VM's site and have a host up. */
    toSite: Name,
    /**
     * Recovery point objective: the newest committed checkpoint is never older than this.
     * 0: zero-loss mode (Remus): checkpoints run back to back and the guest's outgoing packets
     * are held until the checkpoint that produced them is committed at the DR site.
     */
    rpoMs: Type.Union([Type.Literal(0), Type.Integer({ minimum: 1000, maximum: 7 * 24 * 3600 * 1000 })]),
    /** Points in time kept at the DR site (default 3). */
    keep: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    /** Cap on replication bytes per second. */
    bandwidthBytesPerSec: Type.Optional(Type.Integer({ minimum: 65536 })),
    /**
     * High availability (default true): should the VM's host go silent, its agent stops the VM
     * and the controller then restarts it at the DR host from the newest checkpoint (docs/dr.md).
     */
    ha: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type ProtectRequest = Static<typeof ProtectRequest>;

export const ProtectionState = Type.Union([
  Type.Literal('syncing'), // no checkpoint committed yet
  Type.Literal('protected'), // newest checkpoint within the RPO
  Type.Literal('behind'), // newest checkpoint older than the RPO (alarm raised)
  Type.Literal('failed-over'), // the VM runs at the DR site; `failback` brings it home
]);
export type ProtectionState = Static<typeof ProtectionState>;

export const CheckpointRecord = Type.Object({
  vm: Type.String(),
  seq: Type.Integer(),
  /** DR host holding it. */
  host: Type.String(),
  /** The instant captured (the VM was paused around it for pauseMs). */
  takenAt: Type.String(),
  committedAt: Type.String(),
  pauseMs: Type.Number(),
  /** Capture start to commit at the DR host. */
  durationMs: Type.Number(),
  /** Sizes of what the checkpoint stands for: guest memory and disks (virtual). */
  memoryBytes: Type.Number(),
  diskBytes: Type.Number(),
  /** Bytes on the wire for this checkpoint (after dedup and compression, framing included). */
  wireBytes: Type.Number(),
  /** Bytes of chunks the DR store did not hold before. */
  newBytes: Type.Number(),
  /** The guest heartbeat counter at the instant captured, when the console showed one. */
  guestSeq: Type.Optional(Type.Integer()),
});
export type CheckpointRecord = Static<typeof CheckpointRecord>;

export const Protection = Type.Object({
  vm: Type.String(),
  uuid: Type.String(),
  fromSite: Type.String(),
  toSite: Type.String(),
  /** The DR host the checkpoints go to. */
  targetHost: Type.String(),
  rpoMs: Type.Integer(),
  keep: Type.Integer(),
  bandwidthBytesPerSec: Type.Optional(Type.Integer()),
  /** High availability: on unless false (ProtectRequest.ha). */
  ha: Type.Optional(Type.Boolean()),
  state: ProtectionState,
  lastCheckpoint: Type.Optional(CheckpointRecord),
  /** Age of the newest committed checkpoint, at the time of the answer. */
  ageMs: Type.Optional(Type.Number()),
  checkpoints: Type.Integer(),
  /** Replication bytes on the wire since protection began. */
  bytesSent: Type.Number(),
  /** Why the RPO is not held, while it is not. */
  alarm: Type.Optional(Type.Object({ since: Type.String(), reason: Type.String() })),
  /** The last checkpoint attempt's failure, if it failed. */
  lastError: Type.Optional(Type.Object({ code: FailureCodeString, message: Type.String(), at: Type.String() })),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});
export type Protection = Static<typeof Protection>;

export const FailoverMode = Type.Union([Type.Literal('unplanned'), Type.Literal('planned'), Type.Literal('test')]);
export type FailoverMode = Static<typeof FailoverMode>;

export const FailoverRequest = Type.Object(
  {
    /** planned: final checkpoint with the VM paused, nothing lost; unplanned: the last committed checkpoint; test: an isolated copy, checked and torn down. */
    mode: Type.Optional(FailoverMode),
  },
  { additionalProperties: false },
);
export type FailoverRequest = Static<typeof FailoverRequest>;

export const FailoverReport = Type.Object({
  id: Type.String(),
  vm: Type.String(),
  kind: Type.Union([FailoverMode, Type.Literal('failback')]),
  outcome: Type.Union([Type.Literal('succeeded'), Type.Literal('failed')]),
  from: Type.String(),
  to: Type.String(),
  checkpointSeq: Type.Integer(),
  /** Age of the checkpoint used when the command came: the data window a real failover would lose. */
  dataWindowMs: Type.Number(),
  /** Command to the first guest heartbeat at the DR site. */
  timeToRunningMs: Type.Number(),
  checks: Type.Array(Type.Object({ name: Type.String(), passed: Type.Boolean(), detail: Type.String() })),
  /** Bytes on the wire of the checkpoints the switch itself took (planned failover, failback). */
  wireBytes: Type.Optional(Type.Number()),
  error: Type.Optional(FailureSummary),
  /** Present when high availability started this (unplanned) failover by itself: why. */
  ha: Type.Optional(Type.Object({ reason: Type.String() })),
  startedAt: Type.String(),
  finishedAt: Type.String(),
});
export type FailoverReport = Static<typeof FailoverReport>;

/**
 * High availability about one protected VM whose host is down (event `dr.ha`): `waiting` until
 * its host's lease has surely run out, `blocked` when it cannot restart the VM (and why), and
 * `failover` when it has started the unplanned failover (task `taskId`).
 */
export const HaEvent = Type.Object({
  type: Type.Literal('dr.ha'),
  vm: Type.String(),
  /** The VM's host, which is down. */
  host: Type.String(),
  action: Type.Union([Type.Literal('waiting'), Type.Literal('blocked'), Type.Literal('failover')]),
  reason: Type.String(),
  taskId: Type.Optional(Type.String()),
});
export type HaEvent = Static<typeof HaEvent>;

// --- agent API ----------------------------------------------------------------------------

const JobId = Type.String({ minLength: 8, maxLength: 64 });

export const ReceiveCheckpointRequest = Type.Object(
  {
    jobId: JobId,
    vm: Name,
    seq: Type.Integer({ minimum: 1 }),
    sourceHost: Name,
    spec: VmSpec,
    /** Committed checkpoints of this VM to keep after this one commits (older ones are dropped). */
    keep: Type.Integer({ minimum: 1 }),
  },
  { additionalProperties: false },
);
export type ReceiveCheckpointRequest = Static<typeof ReceiveCheckpointRequest>;

export const SendCheckpointRequest = Type.Object(
  {
    jobId: JobId,
    vm: Name,
    seq: Type.Integer({ minimum: 1 }),
    targetHost: Name,
    targetDataUrl: Type.String(),
    bandwidthBytesPerSec: Type.Optional(Type.Integer({ minimum: 65536 })),
    /** Planned failover: leave the VM paused after the capture (the final checkpoint). */
    leavePaused: Type.Optional(Type.Boolean()),
    /** Zero-loss mode: hold the guest's output from this checkpoint's instant until the next one commits. */
    holdOutput: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type SendCheckpointRequest = Static<typeof SendCheckpointRequest>;

export const CheckpointProgress = Type.Object({
  id: Type.String(),
  role: Type.Union([Type.Literal('source'), Type.Literal('target')]),
  vm: Type.String(),
  seq: Type.Integer(),
  state: Type.Union([Type.Literal('waiting'), Type.Literal('capturing'), Type.Literal('sending'), Type.Literal('committed'), Type.Literal('failed'), Type.Literal('aborted')]),
  takenAt: Type.Optional(Type.String()),
  pauseMs: Type.Optional(Type.Number()),
  memoryBytes: Type.Number(),
  diskBytes: Type.Number(),
  /** Bytes of the checkpoint's files read and offered so far. */
  bytesDone: Type.Number(),
  bytesTotal: Type.Number(),
  wireBytes: Type.Number(),
  newBytes: Type.Number(),
  /** An incremental checkpoint (source side): bytes of the 4 KiB pages that differed from its base. */
  changedBytes: Type.Optional(Type.Number()),
  guestSeq: Type.Optional(Type.Integer()),
  /** Why the job failed: one of the declared failure codes (errors.ts), and the cause's words. */
  error: Type.Optional(Type.Object({ code: Type.Union(FAILURE_CODE_LIST.map((c) => Type.Literal(c))), message: Type.String() })),
});
export type CheckpointProgress = Static<typeof CheckpointProgress>;

export const StoredCheckpoint = Type.Object({
  vm: Type.String(),
  uuid: Type.String(),
  seq: Type.Integer(),
  takenAt: Type.String(),
  committedAt: Type.String(),
  memoryBytes: Type.Number(),
  diskBytes: Type.Number(),
  guestSeq: Type.Optional(Type.Integer()),
});
export type StoredCheckpoint = Static<typeof StoredCheckpoint>;

export const RestoreRequest = Type.Object(
  {
    vm: Name,
    /** Default: the newest committed checkpoint. */
    seq: Type.Optional(Type.Integer({ minimum: 1 })),
    /** Run the copy under another name (a DR test), so production is untouched. */
    asName: Type.Optional(Name),
    /** No network to the outside: the guest's NIC reaches only this host (DR tests). */
    isolated: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type RestoreRequest = Static<typeof RestoreRequest>;

export const ScrubReport = Type.Object({
  chunks: Type.Integer(),
  bytes: Type.Number(),
  /** Chunks whose content no longer matches their id (removed from the store). */
  corrupt: Type.Array(Type.String()),
  /** Checkpoints that referenced a corrupt or missing chunk (marked damaged, never restored). */
  damaged: Type.Array(Type.Object({ vm: Type.String(), seq: Type.Integer() })),
});
export type ScrubReport = Static<typeof ScrubReport>;
