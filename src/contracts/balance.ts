// Load-balancing contracts: the operator's policy, and the plan the controller's planner
// (src/controller/balance/planner.ts, a pure function) proposes — each move with the reason an
// operator reads, its predicted gain and its predicted migration cost. The executor carries a
// plan out through ordinary migration tasks (src/contracts/migration.ts).
//
// Method: Sandpiper (Wood et al.) — a host is a hotspot when it stays over a threshold for k of
// its last n samples; volume = 1/((1-cpu)(1-net)(1-mem)); the VM with the highest
// volume-to-size ratio (VSR) moves first; when nothing fits, a hot VM is swapped with cooler
// ones. Cost learning and cooldown as in DCbalance: a VM's past migrations predict its next one.
//
// Controller API (admin token), planned:
//   GET  /api/v1/balance/plan     -> BalancePlan      (`ferry balance plan`)
//   POST /api/v1/balance/apply    -> 202 Task         (`ferry balance apply`)
import { Type, type Static } from '@sinclair/typebox';

const Name = Type.String({ minLength: 1, maxLength: 100 });
const Fraction = Type.Number({ minimum: 0, maximum: 1 });

/** `performance` spreads load off hotspots; `density` packs VMs onto the fewest hosts. */
export const BALANCE_MODES = ['performance', 'density'] as const;
export const BalanceMode = Type.Union(BALANCE_MODES.map((m) => Type.Literal(m)));
export type BalanceMode = (typeof BALANCE_MODES)[number];

/** `together`: the VMs share a host (they move as one or not at all); `apart`: no two share a host. */
export const VmRule = Type.Object(
  { kind: Type.Union([Type.Literal('together'), Type.Literal('apart')]), vms: Type.Array(Name, { minItems: 2 }) },
  { additionalProperties: false },
);
export type VmRule = Static<typeof VmRule>;

export const BalancePolicy = Type.Object(
  {
    mode: BalanceMode,
    /** A host is hot when cpu, net or mem utilisation exceeds this… */
    threshold: Fraction,
    /** …in at least `k` of its last `n` samples. */
    k: Type.Integer({ minimum: 1 }),
    n: Type.Integer({ minimum: 1 }),
    /** vCPUs a host may promise, as a multiple of its cpus. */
    cpuOvercommit: Type.Number({ minimum: 1 }),
    /** Memory kept for the host itself (QEMU overhead, agent, OS). */
    reserveMiB: Type.Integer({ minimum: 0 }),
    /** Concurrency limit: migrations in one plan (a swap or a `together` group counts each VM). */
    maxMoves: Type.Integer({ minimum: 1 }),
    /** No VM moves again within this long of its last migration. */
    cooldownMs: Type.Integer({ minimum: 0 }),
    /** Candidates whose VSR is within this fraction of the best are near-equal: the cheaper move wins. */
    nearEqual: Fraction,
    /** Link speed assumed for cost prediction when a VM has no history. */
    linkBytesPerSec: Type.Number({ minimum: 1 }),
    rules: Type.Array(VmRule),
  },
  { additionalProperties: false },
);
export type BalancePolicy = Static<typeof BalancePolicy>;

export const Utilisation = Type.Object({ cpu: Fraction, net: Fraction, mem: Fraction });
export type Utilisation = Static<typeof Utilisation>;

export const BalanceMove = Type.Object({
  vm: Name,
  from: Name,
  to: Name,
  /** `move`: one VM; `swap`: part of an exchange (same `group`); `group`: a `together` rule moving as one. */
  kind: Type.Union([Type.Literal('move'), Type.Literal('swap'), Type.Literal('group')]),
  /** Moves that must all happen or none (a swap, a `together` group, a host drained in density mode). */
  group: Type.Optional(Type.String()),
  /**
   * A swap's moves are numbered 1, 2, … in the order they must run: step n may start only once
   * step n-1 has completed, because only then has its target the memory free (between two full
   * hosts one VM may step aside to a third host first and go on to its final host last, so a VM
   * can appear twice). Other moves have no step.
   */
  step: Type.Optional(Type.Integer({ minimum: 1 })),
  /** One sentence for the operator. */
  reason: Type.String(),
  gain: Type.Object({
    /** Volume of the host the VM leaves, before and after this step of the plan. */
    fromVolumeBefore: Type.Number(),
    fromVolumeAfter: Type.Number(),
    /** Spread of host volumes (standard deviation) before and after. */
    imbalanceBefore: Type.Number(),
    imbalanceAfter: Type.Number(),
  }),
  cost: Type.Object({
    bytes: Type.Number(),
    seconds: Type.Number(),
    /** True when the prediction comes from this VM's own past migrations. */
    learned: Type.Boolean(),
  }),
});
export type BalanceMove = Static<typeof BalanceMove>;

export const BalancePlan = Type.Object({
  mode: BalanceMode,
  /** Hosts hot by the k-of-n rule when planning started. */
  hotspots: Type.Array(Name),
  /**
   * In executable order: carried out one after another as listed, each move fits its target
   * (memory, vCPUs) once every move before it has completed — the planner checked each against
   * the cluster as the earlier moves leave it. Moves of one group without a `step` may run at once.
   */
  moves: Type.Array(BalanceMove),
  /** Density mode: hosts left with no VM, candidates for power-off. */
  powerOff: Type.Array(Name),
  /** Why something was not done: nothing fits, cooldown, the concurrency limit. */
  notes: Type.Array(Type.String()),
  imbalanceBefore: Type.Number(),
  imbalanceAfter: Type.Number(),
});
export type BalancePlan = Static<typeof BalancePlan>;

// --- The balancer service (src/controller/balance/service.ts) ---
//
// Controller API (admin token):
//   GET  /api/v1/balance                 -> BalanceStatus     (`ferry balance status`)
//   GET  /api/v1/balance/plan            -> BalancePlan       (`ferry balance plan`; plans, moves nothing)
//   POST /api/v1/balance/apply           -> 202 Task          (`ferry balance apply`; plans and carries the plan out)
//   PUT  /api/v1/balance/config          -> BalanceConfig     (`ferry balance auto on|off`, `ferry balance policy …`)
//   GET  /api/v1/balance/decisions       -> BalanceDecision[] (newest first; `ferry balance status` shows the latest)
// Every decision is also published as a `balance.decision` event.

export const BalanceConfig = Type.Object(
  {
    /** Auto mode: plan every `intervalMs` and carry out what the plan says. */
    auto: Type.Boolean(),
    policy: BalancePolicy,
    /** Width of one profile sample: host utilisation is averaged over this long, and the k-of-n rule counts such samples. */
    sampleMs: Type.Integer({ minimum: 1000, maximum: 3_600_000 }),
    /** How often auto mode plans. */
    intervalMs: Type.Integer({ minimum: 1000, maximum: 86_400_000 }),
    /** Migrations the executor runs at once (moves that share no host; a plan's order is kept). */
    maxConcurrent: Type.Integer({ minimum: 1, maximum: 64 }),
  },
  { additionalProperties: false },
);
export type BalanceConfig = Static<typeof BalanceConfig>;

/** A change to the config: any subset; `policy` fields merge into the current policy. */
export const BalanceConfigPatch = Type.Object(
  {
    auto: Type.Optional(Type.Boolean()),
    policy: Type.Optional(Type.Partial(BalancePolicy, { additionalProperties: false })),
    sampleMs: Type.Optional(Type.Integer({ minimum: 1000, maximum: 3_600_000 })),
    intervalMs: Type.Optional(Type.Integer({ minimum: 1000, maximum: 86_400_000 })),
    maxConcurrent: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
  },
  { additionalProperties: false },
);
export type BalanceConfigPatch = Static<typeof BalanceConfigPatch>;

export const BALANCE_DECISION_KINDS = ['plan', 'move-started', 'move-done', 'move-failed', 'replan', 'skipped'] as const;

/** One line of the balancer's log: what it decided or did, and why. */
export const BalanceDecision = Type.Object({
  id: Type.Integer(),
  /** ISO time. */
  at: Type.String(),
  /** `auto`: the auto loop; `apply`: an operator's `ferry balance apply`. */
  trigger: Type.Union([Type.Literal('auto'), Type.Literal('apply')]),
  kind: Type.Union(BALANCE_DECISION_KINDS.map((k) => Type.Literal(k))),
  vm: Type.Optional(Name),
  from: Type.Optional(Name),
  to: Type.Optional(Name),
  /** The reason, in the words the operator reads. */
  reason: Type.String(),
  /** The balance task, and the migration record of a move. */
  taskId: Type.Optional(Type.String()),
  migrationId: Type.Optional(Type.String()),
});
export type BalanceDecision = Static<typeof BalanceDecision>;

export const HostBalance = Type.Object({
  name: Name,
  site: Type.String(),
  up: Type.Boolean(),
  /** Mean over the policy's last n samples. */
  load: Utilisation,
  volume: Type.Number(),
  hot: Type.Boolean(),
  /** Samples over the threshold among the last n. */
  overThreshold: Type.Integer(),
  samples: Type.Integer(),
  vms: Type.Integer(),
});
export type HostBalance = Static<typeof HostBalance>;

export const BalanceStatus = Type.Object({
  config: BalanceConfig,
  hosts: Type.Array(HostBalance),
  /** Spread (standard deviation) of host volumes, per site with two or more hosts, summed. */
  imbalance: Type.Number(),
  /** Moves being carried out now. */
  running: Type.Array(BalanceMove),
  /** Density mode: hosts with no VM now or once the current plan is carried out — to power off. */
  powerOff: Type.Array(Name),
  /** The latest decisions, newest first. */
  decisions: Type.Array(BalanceDecision),
});
export type BalanceStatus = Static<typeof BalanceStatus>;
