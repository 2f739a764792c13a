// Replays one trace under one balancer and reports what the issue asks for: the spread of host
// volumes over time (mean, p95), host-samples spent hot, migrations, bytes moved, and thrash —
// VMs moved again within 10 minutes by another decision (the legs of one staged swap are one).
import type { BalancePolicy } from '../../src/contracts/balance.js';
import { plan, type BalanceHistory, type BalanceSnapshot } from '../../src/controller/balance/planner.js';
import { SimCluster, type Migration, type PlannedMove } from './cluster.js';
import { greedyPlan } from './greedy.js';
import { demandAt, type Trace } from './trace.js';
import { rng } from '../../src/testing/seeded-random.js';

export type BalancerName = 'ferry' | 'greedy' | 'none';
type Balancer = (snap: BalanceSnapshot, history: BalanceHistory, policy: BalancePolicy) => PlannedMove[];

const BALANCERS: Record<BalancerName, Balancer> = {
  ferry: (snap, history, policy) => plan(snap, policy, history).moves,
  greedy: (snap, _history, policy) => greedyPlan(snap, policy),
  none: () => [],
};

export const THRASH_WINDOW_SEC = 600;

export interface SimResult {
  balancer: BalancerName;
  spreadMean: number;
  spreadP95: number;
  hotHostSamples: number;
  migrations: number;
  bytes: number;
  thrash: number;
  dropped: number;
  /** Wall time of the balancer's decisions, per plan. */
  planMsMean: number;
  planMsMax: number;
  /** Per tick: volume spread and hot hosts. */
  spread: number[];
  hot: number[];
}

export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
}

/** VMs that started a migration within THRASH_WINDOW_SEC of their previous one, from another decision. */
export function thrash(migrations: readonly Migration[]): number {
  const last = new Map<number, Migration>();
  const vms = new Set<number>();
  for (const m of [...migrations].sort((a, b) => a.startSec - b.startSec)) {
    const prev = last.get(m.vm);
    if (prev && prev.key !== m.key && m.startSec - prev.startSec < THRASH_WINDOW_SEC) vms.add(m.vm);
    last.set(m.vm, m);
  }
  return vms.size;
}

export function simulate(trace: Trace, balancer: BalancerName, policy: BalancePolicy): SimResult {
  const c = new SimCluster(trace, policy);
  const noise = rng(trace.opts.seed + 1);
  const spread: number[] = [];
  const hot: number[] = [];
  const planMs: number[] = [];
  let plans = 0;
  for (let tick = 0; tick < trace.ticks; tick++) {
    demandAt(trace, tick, noise, c.cpu, c.net);
    const m = c.measure();
    spread.push(m.spread);
    hot.push(m.hot);
    if (c.idle()) {
      const { snapshot, history } = c.snapshot();
      const t0 = performance.now();
      const moves = BALANCERS[balancer](snapshot, history, policy);
      planMs.push(performance.now() - t0);
      c.enqueue(moves, ++plans);
    }
    c.advance(trace.opts.tickSec);
  }
  return {
    balancer,
    spreadMean: spread.reduce((a, b) => a + b, 0) / spread.length,
    spreadP95: percentile(spread, 0.95),
    hotHostSamples: hot.reduce((a, b) => a + b, 0),
    migrations: c.migrations.length,
    bytes: c.migrations.reduce((s, x) => s + x.bytes, 0),
    thrash: thrash(c.migrations),
    dropped: c.dropped,
    planMsMean: planMs.reduce((a, b) => a + b, 0) / Math.max(1, planMs.length),
    planMsMax: Math.max(0, ...planMs),
    spread,
    hot,
  };
}
