// When a migration should switch from pre-copy to post-copy. Pure: the source feeds it the
// history of its query-migrate polls and acts on the answer, so the rule is unit-tested apart
// from QEMU (postcopy-rule.test.ts).
//   postcopy: switch as soon as the first full pass over memory is done (dirty-sync-count ≥ 1),
//             so the bulk goes pre-copy (no page faults) and only what changed after is pulled;
//   hybrid:   stay pre-copy while rounds converge; switch once QEMU has run MIN_ROUNDS rounds
//             and `remaining` has not shrunk over the last STALL_POLLS polls;
//   precopy:  never.
import type { ConcreteStrategy } from '../../contracts/index.js';

export const HYBRID_MIN_ROUNDS = 5;
export const HYBRID_STALL_POLLS = 3;

export interface PollSample {
  /** ram.dirty-sync-count */
  rounds: number;
  /** ram.remaining, bytes */
  remaining: number;
}

/** `history` is oldest first and ends with the latest poll. */
export function shouldStartPostcopy(strategy: ConcreteStrategy, history: readonly PollSample[]): boolean {
  const last = history[history.length - 1];
  if (!last || strategy === 'precopy') return false;
  if (strategy === 'postcopy') return last.rounds >= 1;
  if (last.rounds < HYBRID_MIN_ROUNDS || history.length < HYBRID_STALL_POLLS + 1) return false;
  // Not converging: the latest remaining is no smaller than the smallest of the polls before the window.
  const before = history[history.length - 1 - HYBRID_STALL_POLLS]!;
  const window = history.slice(-HYBRID_STALL_POLLS);
  return window.every((s) => s.remaining >= before.remaining * 0.9);
}
