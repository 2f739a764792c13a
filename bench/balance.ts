// Benchmark (issue 5): the balancing planner's time, and the simulation of balancing over a
// synthetic load trace (bench/balance-sim/): Ferry's planner vs a greedy balancer vs none.
//   1. planner time for 1,000 hosts / 20,000 VMs and 100 / 2,000 (median and max over --runs),
//      on clusters built from the simulation's trace at its start, where services crowd some
//      hosts — hotspots for the planner to work on — with the default move limit and with 200;
//   2. the simulation: 200 hosts, 4,000 VMs, 8 h of 10 s samples (--quick: 2 h), three runs.
// Table on stdout, JSON in build/bench/, chart build/bench/balance-….png (copied to
// docs/bench/balance-sim.png with --docs). Prints; never asserts.
//   node dist/bench/balance.js [--quick] [--runs N] [--hours H] [--seed S] [--docs] [--out DIR]
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_POLICY, plan } from '../src/controller/balance/planner.js';
import type { BalancePolicy } from '../src/contracts/balance.js';
import { renderSimChart } from './balance-sim/chart.js';
import { SimCluster } from './balance-sim/cluster.js';
import { simulate, type SimResult } from './balance-sim/run.js';
import { DEFAULT_TRACE, demandAt, generateTrace, LINK_BYTES_PER_SEC } from './balance-sim/trace.js';
import { rng } from '../src/testing/seeded-random.js';
import { median, REPO, table } from './lib.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    runs: { type: 'string' },
    hours: { type: 'string' },
    seed: { type: 'string', default: '1' },
    docs: { type: 'boolean', default: false },
    out: { type: 'string', default: join(REPO, 'build/bench') },
  },
});
const QUICK = values.quick;
const RUNS = Number(values.runs ?? (QUICK ? 3 : 7));
const SEED = Number(values.seed);
const POLICY: BalancePolicy = { ...DEFAULT_POLICY, linkBytesPerSec: LINK_BYTES_PER_SEC };
const GiB = 1024 ** 3;

interface PlannerRow {
  hosts: number;
  vms: number;
  maxMoves: number;
  hotspots: number;
  moves: number;
  msMedian: number;
  msMax: number;
}

/** A cluster at the trace's start, after n samples: services crowd some hosts, so some are hot. */
function plannerCase(hosts: number, vms: number) {
  const trace = generateTrace({ ...DEFAULT_TRACE, seed: SEED, hosts, vms });
  const c = new SimCluster(trace, POLICY);
  const noise = rng(SEED + 1);
  for (let t = 0; t < POLICY.n; t++) {
    demandAt(trace, t, noise, c.cpu, c.net);
    c.measure();
  }
  return c.snapshot();
}

function timePlanner(hosts: number, vms: number, maxMoves: number): PlannerRow {
  const { snapshot, history } = plannerCase(hosts, vms);
  const policy = { ...POLICY, maxMoves };
  const ms: number[] = [];
  let p = plan(snapshot, policy, history);
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    p = plan(snapshot, policy, history);
    ms.push(performance.now() - t0);
  }
  return { hosts, vms, maxMoves, hotspots: p.hotspots.length, moves: p.moves.length, msMedian: median(ms), msMax: Math.max(...ms) };
}

function main(): void {
  const started = new Date();
  const planner: PlannerRow[] = [];
  for (const [h, v] of [
    [100, 2000],
    [1000, 20000],
  ] as const) {
    for (const maxMoves of [POLICY.maxMoves, 200]) planner.push(timePlanner(h, v, maxMoves));
  }
  console.log(`Planner time (${RUNS} runs after one warm-up, performance mode):\n`);
  console.log(table([['hosts', 'VMs', 'maxMoves', 'hotspots', 'moves', 'median ms', 'max ms'], ...planner.map((r) => [String(r.hosts), String(r.vms), String(r.maxMoves), String(r.hotspots), String(r.moves), r.msMedian, r.msMax])]));

  const trace = generateTrace({ ...DEFAULT_TRACE, seed: SEED, hours: Number(values.hours ?? (QUICK ? 2 : DEFAULT_TRACE.hours)) });
  const o = trace.opts;
  const subtitle = `${o.hosts} hosts, ${o.vms} VMs, ${o.hours} h of ${o.tickSec} s samples, seed ${o.seed}`;
  const runs: SimResult[] = (['ferry', 'greedy', 'none'] as const).map((b) => simulate(trace, b, POLICY));
  // Greedy acts on the latest sample; Ferry on the same trigger (k = 1 of n = 1) separates the
  // choice of VM and target from the k-of-n patience.
  const sameTrigger = { ...simulate(trace, 'ferry', { ...POLICY, k: 1, n: 1 }), balancer: 'ferry' as const };
  const rows = [...runs.slice(0, 1), { ...sameTrigger, label: 'ferry k=1 of 1' }, ...runs.slice(1)].map((r) => ({ label: r.balancer as string, ...r }));
  console.log(`\nSimulation: ${subtitle}; ${trace.bursts.length} bursts and spikes; threshold ${POLICY.threshold}, k ${POLICY.k} of n ${POLICY.n}, maxMoves ${POLICY.maxMoves}:\n`);
  console.log(
    table([
      ['balancer', 'spread mean', 'spread p95', 'hot host-samples', 'migrations', 'GiB moved', 'thrash VMs', 'dropped', 'plan ms mean', 'plan ms max'],
      ...rows.map((r) => [r.label, r.spreadMean, r.spreadP95, String(r.hotHostSamples), String(r.migrations), r.bytes / GiB, String(r.thrash), String(r.dropped), r.planMsMean, r.planMsMax]),
    ]),
  );
  mkdirSync(values.out, { recursive: true });
  const base = join(values.out, `balance-${started.toISOString().replace(/[:.]/g, '-')}`);
  writeFileSync(`${base}.json`, JSON.stringify({ started, quick: QUICK, policy: POLICY, trace: o, planner, runs, sameTrigger }) + '\n');
  console.log(`\nJSON: ${base}.json`);
  void renderSimChart(runs, o.tickSec, base, subtitle).then(
    (png) => {
      console.log(`chart: ${png}`);
      if (values.docs) copyFileSync(png, join(REPO, 'docs/bench/balance-sim.png'));
    },
    (err: Error) => console.log(`chart not rendered: ${err.message}`),
  );
}

main();
