// Benchmark (issue 7): per live migration, the gap a client sees, next to the VM downtime the
// migration measured, for a guest on a bridged NIC and — the peer, in the same run and cluster —
// a guest on user-mode networking behind a Ferry service endpoint.
//   `ferry up --hosts 2 --net bridged`; two VMs of the same size on host1:
//   - lan: `--net bridged --workload http,echo`. A client in the site's namespace
//     (src/testing/lan-probe.ts) keeps ONE TCP connection to port 7 with a numbered line every
//     10 ms (echo gap: the longest time without an echo; and whether the connection survived
//     with every line in order), and opens a NEW connection to `GET /health` every 50 ms.
//   - nat: `--workload http`, exposed with `ferry vm expose nat --port 80`; a client polls it
//     through the endpoint every 100 ms, each time on a new connection (endpoint-poller.ts).
// Migrations alternate lan, nat, lan, nat … host1 ↔ host2 so both see the same machine. Prints a
// markdown table and medians; never asserts.
//   node dist/bench/bridged.js [--migrations 4] [--memory 256]      (as root)
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import type { Vm } from '../src/contracts/controller-api.js';
import type { ServiceEndpoint } from '../src/contracts/endpoints.js';
import type { MigrationRecord } from '../src/contracts/migration.js';
import { TestCluster } from '../test/e2e/harness.js';
import { waitFor } from '../src/testing/wait-for.js';
import { EndpointPoller } from '../src/testing/endpoint-poller.js';
import { LanProbe, netnsUnusable } from '../src/testing/lan-client.js';
import { median } from './lib.js';

interface Row {
  vm: 'lan' | 'nat';
  move: string;
  strategy: string;
  downtimeMs: number;
  observedMs?: number;
  /** lan: the open connection's gap; nat: the endpoint poller's gap. */
  gapMs: number;
  /** lan: the new-connection HTTP gap. */
  newConnGapMs?: number;
  kept?: boolean;
  /** lan: the window's counters (echoed lines, failed new connections). */
  echoed?: number;
  httpFailed?: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { migrations: { type: 'string', default: '4' }, memory: { type: 'string', default: '256' } } });
  const why = await netnsUnusable();
  if (why) throw new Error(`bench/bridged: ${why}`);
  const c = new TestCluster();
  let probe: LanProbe | undefined;
  let poller: EndpointPoller | undefined;
  const rows: Row[] = [];
  try {
    console.error('ferry up --hosts 2 --net bridged …');
    await c.ok(['up', '--hosts', '2', '--net', 'bridged', '--port', '0', '--accel', 'tcg']);
    const net = JSON.parse(await c.ok(['net', 'show', '--json'])) as { sites: { netns: string }[] };
    const lan = await c.json<Vm>(['vm', 'create', 'lan', '--memory', values.memory, '--workload', 'http,echo', '--net', 'bridged', '--host', 'host1']);
    await c.ok(['vm', 'create', 'nat', '--memory', values.memory, '--workload', 'http', '--host', 'host1']);
    console.error('waiting for both guests to boot …');
    await c.waitBeat('lan', 1);
    await c.waitBeat('nat', 1);
    const nic = lan.spec.nics[0];
    if (nic?.network !== 'bridged' || !nic.ip) throw new Error(`lan has no bridged address: ${JSON.stringify(lan.spec.nics)}`);
    const p = (probe = LanProbe.start(net.sites[0]!.netns, nic.ip.split('/')[0]!));
    await waitFor('the lan client to get answers', async () => {
      const r = await p.report();
      return r.echoed > 10 && r.httpOk > 2;
    }, { timeoutMs: 60_000, everyMs: 200 });
    const ep = await c.json<ServiceEndpoint>(['vm', 'expose', 'nat', '--port', '80']);
    const q = (poller = new EndpointPoller(ep.url));
    q.start();
    await q.answerAfter(performance.now(), 30_000);

    const where = { lan: 'host1', nat: 'host1' };
    for (let i = 0; i < Number(values.migrations); i++) {
      for (const vm of ['lan', 'nat'] as const) {
        const from = where[vm];
        const to = from === 'host1' ? 'host2' : 'host1';
        if (vm === 'lan') p.mark();
        const t0 = performance.now();
        const rec = await c.json<MigrationRecord>(['vm', 'migrate', vm, '--to', to]);
        const t1 = performance.now();
        if (rec.outcome !== 'succeeded') throw new Error(`${vm} ${from} -> ${to}: ${rec.outcome} ${JSON.stringify(rec.error ?? {})}`);
        where[vm] = to;
        const base = { vm, move: `${from} -> ${to}`, strategy: rec.strategy, downtimeMs: rec.downtimeMs ?? 0, ...(rec.observedDowntimeMs !== undefined ? { observedMs: rec.observedDowntimeMs } : {}) };
        if (vm === 'lan') {
          const w = await waitFor('the echoes to catch up', async () => {
            const r = await p.report();
            return r.outstanding <= 2 && r.echoed > 20 ? r : undefined;
          }, { timeoutMs: 60_000, everyMs: 200 });
          rows.push({ ...base, gapMs: w.echoGapMs, newConnGapMs: w.httpGapMs, kept: w.closed === null && w.wrong === 0 && w.httpWrong === 0, echoed: w.echoed, httpFailed: w.httpFailed });
          if (w.closed !== null || w.wrong || w.httpWrong) console.error(`lan ${from} -> ${to}: connection ${w.closed ?? 'open'}, ${w.wrong} lines wrong, ${w.httpWrong} HTTP answers wrong`);
        } else {
          await q.answerAfter(t1, 60_000);
          rows.push({ ...base, gapMs: q.longestGap(t0, t1) });
        }
        const r = rows.at(-1)!;
        console.error(`${vm} ${r.move}: gap ${r.gapMs} ms${r.newConnGapMs !== undefined ? `, new connections ${r.newConnGapMs} ms` : ''}, downtime ${r.downtimeMs} ms`);
      }
    }
    print(rows, values.memory, q);
  } finally {
    probe?.stop();
    await poller?.stop();
    await c.cleanup();
  }
}

function print(rows: Row[], memory: string, q: EndpointPoller): void {
  const qemu = execFileSync('qemu-system-x86_64', ['--version'], { encoding: 'utf8' }).split('\n')[0];
  console.log(`\n${qemu}, ${cpus().length} cores, TCG; two ${memory} MiB VMs on \`ferry up --hosts 2 --net bridged\``);
  const lans = rows.filter((r) => r.vm === 'lan');
  const sum = (xs: (number | undefined)[]): number => xs.reduce<number>((a, x) => a + (x ?? 0), 0);
  console.log(`lan client, during the moves: ${sum(lans.map((r) => r.echoed))} lines echoed, open connection kept in ${lans.filter((r) => r.kept).length} of ${lans.length}, ${sum(lans.map((r) => r.httpFailed))} new connections failed`);
  console.log(`nat client: ${q.okAt.length} answers, ${q.failures} polls without one, ${q.wrong.length} wrong${q.wrong.length ? ` (${q.wrong.slice(0, 3).join('; ')})` : ''}\n`);
  console.log('| VM | move | strategy | QEMU downtime (ms) | observed (ms) | client gap (ms) | new-connection gap (ms) | open connection kept |');
  console.log('|---|---|---|---:|---:|---:|---:|---|');
  for (const r of rows) {
    const kind = r.vm === 'lan' ? 'lan (bridged, one open TCP connection)' : 'nat (user-mode, service endpoint)';
    console.log(`| ${kind} | ${r.move} | ${r.strategy} | ${r.downtimeMs} | ${r.observedMs ?? '-'} | ${r.gapMs} | ${r.newConnGapMs ?? '-'} | ${r.kept === undefined ? 'n/a (new connection per request)' : r.kept ? 'yes, every line in order' : 'NO'} |`);
  }
  console.log('\n| VM | median QEMU downtime (ms) | median client gap (ms) | median gap − downtime (ms) | median new-connection gap (ms) |');
  console.log('|---|---:|---:|---:|---:|');
  for (const vm of ['lan', 'nat'] as const) {
    const rs = rows.filter((r) => r.vm === vm);
    const nc = rs.flatMap((r) => (r.newConnGapMs !== undefined ? [r.newConnGapMs] : []));
    console.log(`| ${vm} | ${median(rs.map((r) => r.downtimeMs))} | ${median(rs.map((r) => r.gapMs))} | ${median(rs.map((r) => r.gapMs - r.downtimeMs))} | ${nc.length ? median(nc) : '-'} |`);
  }
}

main().catch((err: Error) => {
  console.error(err.stack ?? err.message);
  process.exitCode = 1;
});
