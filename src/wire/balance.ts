// Load-balancing contracts: the operator's policy, and the plan the controller's planner
// (src/controller/balance/planner.ts, a pure function) proposes — each move with the reason an
// operator reads, its predicted gain and its predicted migration cost. The executor carries a
// plan out through ordinary migration tasks (src/wire/migration.ts).
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
  moves: Type.Array(BalanceMove),
  /** Density mode: hosts left with no VM, candidates for power-off. */
  powerOff: Type.Array(Name),
  /** Why something was not done: nothing fits, cooldown, the concurrency limit. */
  notes: Type.Array(Type.String()),
  imbalanceBefore: Type.Number(),
  imbalanceAfter: Type.Number(),
});
export type BalancePlan = Static<typeof BalancePlan>;
