// Migration cost prediction (DCbalance): a VM's own past migrations predict its next one; with
// no history, pre-copy's geometric series — each round resends what was dirtied during the last.
import type { BalanceMove } from '../../contracts/balance.js';
import type { BalanceVm, PastMigration } from './model.js';

/** Past migrations of a VM that predict its next one. */
export const HISTORY_DEPTH = 5;
/** Pre-copy rounds assumed by the cost model. */
const COST_ROUNDS = 30;
const MAX_DIRTY_RATIO = 0.9;
const MIB = 1024 * 1024;

export type Cost = BalanceMove['cost'];

/** Predicted cost of migrating `vm`: its own past migrations if any, else pre-copy's geometric series. */
export function predictCost(vm: BalanceVm, past: readonly PastMigration[], linkBytesPerSec: number): Cost {
  const own = past.filter((m) => m.vm === vm.name && m.succeeded).sort((a, b) => b.atMs - a.atMs).slice(0, HISTORY_DEPTH);
  if (own.length > 0) {
    const bytes = own.reduce((s, m) => s + m.wireBytes, 0) / own.length;
    const seconds = own.reduce((s, m) => s + m.totalMs, 0) / own.length / 1000;
    return { bytes, seconds, learned: true };
  }
  const mem = vm.memoryMiB * MIB;
  const r = Math.min(vm.dirtyBytesPerSec / linkBytesPerSec, MAX_DIRTY_RATIO);
  const bytes = r === 0 ? mem : (mem * (1 - r ** COST_ROUNDS)) / (1 - r);
  return { bytes, seconds: bytes / linkBytesPerSec, learned: false };
}

export const addCost = (a: Cost, b: Cost): Cost => ({ bytes: a.bytes + b.bytes, seconds: a.seconds + b.seconds, learned: a.learned && b.learned });
