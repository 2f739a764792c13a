// Hotspot onset to resolution with real TCG guests (the scenario of test/e2e/balance.test.ts),
// Ferry's balancer next to a greedy one on the same scenario in the same run.
//
// host1 is crowded: `steady` keeps one CPU busy, two idle VMs are larger (256 MiB) than the
// busy ones (128 MiB); host2 is empty. At onset `burner` starts burning on host1. Policy: hot
// above 60 % of the host's CPUs in 3 of the last 5 samples of 2 s; plans every 2 s.
//   ferry  — auto mode: Sandpiper's volume-to-size ratio picks a burning VM.
//   greedy — the same hot signal (`ferry balance status`), but each round moves the largest VM
//            off the hottest host to the least loaded one (the textbook greedy rule), by
//            `ferry vm migrate`, until no host is hot or 4 moves were made.
// Printed per method: onset → host1 hot (detected), onset → no host hot, nothing moving, and still
// so 10 s later (resolved; never if that does not happen within 3 min), migrations made, bytes
// on the wire, and the hosts' CPU utilisation at the end.
//
// Usage: node dist/bench/balance-hotspot.js [--json FILE]
import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BalanceStatus } from '../src/contracts/balance.js';
import type { Task, Vm } from '../src/contracts/controller-api.js';
import type { MigrationRecord } from '../src/contracts/migration.js';
import { startCluster, table, type BenchCluster } from './lib.js';
import { waitFor } from '../src/testing/wait-for.js';

const POLICY = ['--threshold', '0.6', '--k', '3', '--n', '5', '--sample', '2s', '--interval', '2s', '--cooldown', '5m', '--max-moves', '1'];
const GIVE_UP_MS = 180_000;
/** Resolved means: no host hot, nothing moving, and it stays so this long (a dip is not a fix). */
const STABLE_MS = 10_000;
const MAX_GREEDY_MOVES = 4;

interface Outcome {
  method: 'ferry' | 'greedy';
  detectedS?: number;
  resolvedS?: number;
  migrations: number;
  wireMiB: number;
  moved: string[];
  /** Host CPU utilisation once resolved. */
  finalCpu?: Record<string, number>;
}

async function setUp(): Promise<BenchCluster> {
  const c = await startCluster(2);
  await c.ferry('vm', 'create', 'steady', '--memory', '128', '--host', 'host1', '--workload', 'cpu');
  await c.ferry('vm', 'create', 'quiet1', '--memory', '256', '--host', 'host1');
  await c.ferry('vm', 'create', 'quiet2', '--memory', '256', '--host', 'host1');
  await c.ferry('balance', 'config', ...POLICY);
  await sleep(12_000); // a full window of samples before the onset
  return c;
}

const status = (c: BenchCluster): Promise<BalanceStatus> => c.api.get<BalanceStatus>('/api/v1/balance');

async function greedyRound(c: BenchCluster, s: BalanceStatus): Promise<string | undefined> {
  const hot = s.hosts.filter((h) => h.hot && h.up).sort((a, b) => b.volume - a.volume)[0];
  if (!hot) return undefined;
  const vms = await c.api.get<Vm[]>('/api/v1/vms');
  const largest = vms.filter((v) => v.host === hot.name && v.state === 'running').sort((a, b) => b.memoryMiB - a.memoryMiB || (a.name < b.name ? -1 : 1))[0];
  const to = s.hosts.filter((h) => h.up && h.name !== hot.name && h.site === hot.site).sort((a, b) => a.volume - b.volume)[0];
  if (!largest || !to) return undefined;
  const task = await c.api.post<Task>(`/api/v1/vms/${largest.name}/migrate`, { to: to.name });
  await waitFor(`migration of ${largest.name}`, async () => {
    const t = await c.api.get<Task>(`/api/v1/tasks/${task.id}`);
    return t.state === 'running' || t.state === 'queued' ? undefined : t;
  }, { timeoutMs: 120_000, everyMs: 200 });
  return largest.name;
}

async function measure(method: Outcome['method']): Promise<Outcome> {
  const c = await setUp();
  const out: Outcome = { method, migrations: 0, wireMiB: 0, moved: [] };
  try {
    if (method === 'ferry') await c.ferry('balance', 'auto', 'on');
    const onset = performance.now();
    await c.ferry('vm', 'create', 'burner', '--memory', '128', '--host', 'host1', '--workload', 'cpu');
    const since = (): number => (performance.now() - onset) / 1000;
    let calmSince: number | undefined;
    while (performance.now() - onset < GIVE_UP_MS) {
      const s = await status(c);
      const anyHot = s.hosts.some((h) => h.hot);
      if (anyHot && out.detectedS === undefined) out.detectedS = since();
      const calm = !anyHot && out.detectedS !== undefined && s.running.length === 0;
      if (!calm) calmSince = undefined;
      else if (calmSince === undefined) calmSince = since();
      else if ((since() - calmSince) * 1000 >= STABLE_MS) {
        out.resolvedS = calmSince;
        out.finalCpu = Object.fromEntries(s.hosts.map((h) => [h.name, Number(h.load.cpu.toFixed(2))]));
        break;
      }
      if (method === 'greedy' && anyHot && out.moved.length < MAX_GREEDY_MOVES) {
        const moved = await greedyRound(c, s);
        if (moved) out.moved.push(moved);
        continue;
      }
      await sleep(250);
    }
    const records = await c.api.get<MigrationRecord[]>('/api/v1/migrations');
    out.migrations = records.length;
    out.wireMiB = records.reduce((a, r) => a + r.wireBytes, 0) / 1048576;
    if (method === 'ferry') out.moved = records.map((r) => r.vm);
  } finally {
    await c.down();
  }
  return out;
}

const results: Outcome[] = [];
for (const m of ['ferry', 'greedy'] as const) {
  console.error(`measuring ${m}…`);
  results.push(await measure(m));
}
const s = (x: number | undefined): string => (x === undefined ? 'never' : `${x.toFixed(1)} s`);
console.log(
  table([
    ['method', 'onset -> hot', 'onset -> resolved', 'migrations', 'wire MiB', 'moved', 'host cpu after'],
    ...results.map((r) => [
      r.method, s(r.detectedS), s(r.resolvedS), String(r.migrations), r.wireMiB.toFixed(1), r.moved.join(' ') || '-',
      r.finalCpu ? Object.entries(r.finalCpu).map(([h, u]) => `${h} ${Math.round(u * 100)}%`).join(', ') : '-',
    ]),
  ]),
);
const jsonAt = process.argv.indexOf('--json');
if (jsonAt > 0 && process.argv[jsonAt + 1]) writeFileSync(process.argv[jsonAt + 1]!, `${JSON.stringify(results, null, 2)}\n`);
