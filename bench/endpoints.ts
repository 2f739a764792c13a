// Benchmark (issue 7): the gap a client of a Ferry service endpoint sees per move, next to the
// VM downtime the move itself measured. One VM running the http workload on
// `ferry up --sites main:2,dr:1`, exposed on port 80; a client polls `GET /` through the
// endpoint every 100 ms on a new connection (src/testing/endpoint-poller.ts) while the VM
//   1. live-migrates between host1 and host2 (--migrations times; the migration record's
//      downtimeMs and observedDowntimeMs next to the gap),
//   2. fails over to the DR site (planned) and back (failback), --switches times (the failover
//      report's timeToRunningMs and dataWindowMs next to the gap).
// The gap is the longest time without a good answer from the command to the first answer after
// it returns. Prints a markdown table; never asserts.
//   node dist/bench/endpoints.js [--migrations 4] [--switches 2] [--memory 256]
import { parseArgs } from 'node:util';
import type { CheckpointRecord, FailoverReport } from '../src/contracts/dr.js';
import type { ServiceEndpoint } from '../src/contracts/endpoints.js';
import type { MigrationRecord } from '../src/contracts/migration.js';
import { TestCluster } from '../test/e2e/harness.js';
import { waitFor } from '../src/testing/wait-for.js';
import { EndpointPoller } from '../src/testing/endpoint-poller.js';

const VM = 'web';

interface Row {
  move: string;
  gapMs: number;
  /** Migration: downtimeMs (QEMU) / observedDowntimeMs (guest heartbeat). */
  downtime?: string;
  /** Failover/failback: command to first heartbeat, and the data window. */
  timeToRunningMs?: number;
  dataWindowMs?: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { migrations: { type: 'string', default: '4' }, switches: { type: 'string', default: '2' }, memory: { type: 'string', default: '256' } } });
  const c = new TestCluster();
  const rows: Row[] = [];
  let poller: EndpointPoller | undefined;
  try {
    await c.ok(['up', '--sites', 'main:2,dr:1', '--port', '0', '--accel', 'tcg']);
    await c.ok(['vm', 'create', VM, '--memory', values.memory, '--workload', 'http', '--host', 'host1']);
    await c.waitBeat(VM, 1);
    const ep = await c.json<ServiceEndpoint>(['vm', 'expose', VM, '--port', '80']);
    const p = (poller = new EndpointPoller(ep.url));
    p.start();
    await p.answerAfter(performance.now(), 30_000);
    /** Runs a move, waits for the service to answer again, and returns the longest gap. */
    const timed = async <T>(fn: () => Promise<T>): Promise<{ r: T; gapMs: number }> => {
      const t0 = performance.now();
      const r = await fn();
      const t1 = performance.now();
      await p.answerAfter(t1, 60_000);
      return { r, gapMs: p.longestGap(t0, t1) };
    };

    let host = 'host1';
    for (let i = 0; i < Number(values.migrations); i++) {
      const to = host === 'host1' ? 'host2' : 'host1';
      const { r, gapMs } = await timed(() => c.json<MigrationRecord>(['vm', 'migrate', VM, '--to', to]));
      rows.push({ move: `migrate ${host} -> ${to} (${r.strategy})`, gapMs, downtime: `${r.downtimeMs} / ${r.observedDowntimeMs ?? '-'}` });
      host = to;
      console.error(`migration ${i + 1}: gap ${gapMs} ms, downtime ${r.downtimeMs} ms`);
    }

    await c.ok(['dr', 'protect', VM, '--to', 'dr', '--rpo', '30s']);
    const newest = async (): Promise<number> => (await c.json<CheckpointRecord[]>(['dr', 'checkpoints', VM]))[0]?.seq ?? 0;
    for (let i = 0; i < Number(values.switches); i++) {
      const seen = await newest();
      await waitFor('a checkpoint at the DR site', async () => (await newest()) > seen || (i === 0 && seen > 0), { timeoutMs: 180_000, everyMs: 1000 });
      for (const kind of ['failover', 'failback'] as const) {
        const args = kind === 'failover' ? ['dr', 'failover', VM, '--planned'] : ['dr', 'failback', VM];
        const { r, gapMs } = await timed(() => c.json<FailoverReport>(args));
        rows.push({ move: `${kind === 'failover' ? 'planned failover' : 'failback'} ${r.from} -> ${r.to}`, gapMs, timeToRunningMs: r.timeToRunningMs, dataWindowMs: r.dataWindowMs });
        console.error(`${kind} ${i + 1}: gap ${gapMs} ms, time to running ${r.timeToRunningMs} ms`);
      }
    }
    await p.stop();
    console.log(`\n${VM}: ${values.memory} MiB, workload http; client: ${p.okAt.length} answers, ${p.failures} polls without one, ${p.wrong.length} wrong${p.wrong.length ? ` (${p.wrong.slice(0, 3).join('; ')})` : ''}\n`);
    console.log('| move | client gap (ms) | VM downtime ms (QEMU / observed) | command to first heartbeat (ms) | data window (ms) |');
    console.log('|---|---:|---:|---:|---:|');
    for (const r of rows) console.log(`| ${r.move} | ${r.gapMs} | ${r.downtime ?? '-'} | ${r.timeToRunningMs ?? '-'} | ${r.dataWindowMs ?? '-'} |`);
  } finally {
    await poller?.stop();
    await c.cleanup();
  }
}

main().catch((err: Error) => {
  console.error(err.stack ?? err.message);
  process.exitCode = 1;
});
