// Benchmark (issue 3): the same VM with the same workload migrated by
//   qemu-tcp            QEMU alone, direct TCP, default settings except max-bandwidth (uncapped)
//   qemu-tls            the same in QEMU's own mutually authenticated TLS (certificates from our PKI)
//   qemu-multifd        QEMU alone, multifd + compression (zstd, else zlib) on both sides
//   ferry-direct        `ferry vm migrate --transport direct` on a 2-host cluster (QEMU to QEMU in TLS)
//   ferry-passthrough   `ferry vm migrate --transport passthrough` (the agents relay QEMU's stream)
//   ferry-chunked       `ferry vm migrate --transport chunked`
// on loopback and on a 100 Mbit/s tbf link between two network namespaces; total time,
// downtime and bytes on the wire as a table, JSON and a PNG chart; and the agents' resident
// memory during Ferry migrations of a 256 MiB and a 1 GiB VM. Prints; never asserts.
//   node dist/bench/migration.js [--runs N] [--links loopback,tbf] [--methods …] [--quick]
//        [--memory MIB] [--workload dirty:R:S] [--rss-sizes 256,1024] [--no-rss] [--out DIR]
//   node dist/bench/migration.js --chart build/bench/migration-….json   (re-draw a chart)
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { renderChart, type ChartInput } from './migration-chart.js';
import { loopbackCluster, namespaceCluster, type MigCluster } from './migration-cluster.js';
import { freePort, multifdCompression, qemuMigrate, startQemu, tlsCreds, verifyBeats, type QemuVm } from './migration-qemu.js';
import { REPO, sampleRss, table, waitDirtying } from './lib.js';
import { lastHeartbeat, type Heartbeat } from '../src/contracts/heartbeat.js';
import { createLink, netnsAvailable, type NsLink } from './net.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '1' },
    links: { type: 'string', default: 'loopback,tbf' },
    methods: { type: 'string', default: 'qemu-tcp,qemu-tls,qemu-multifd,ferry-direct,ferry-passthrough,ferry-chunked' },
    memory: { type: 'string', default: '256' },
    workload: { type: 'string', default: 'dirty:8:64' },
    'rss-sizes': { type: 'string', default: '256,1024' },
    'no-rss': { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
    timeout: { type: 'string', default: '300' },
    out: { type: 'string', default: join(REPO, 'build/bench') },
    /** Only re-draw the chart of an earlier run's JSON. */
    chart: { type: 'string' },
  },
});
const RUNS = Number(values.runs);
const LINKS = values.links.split(',').map((l) => (l === 'tbf' ? 'tbf-100mbit' : l));
const METHODS = values.methods.split(',');
const MEMORY = Number(values.memory);
const WORKLOAD = values.workload;
const TIMEOUT_MS = Number(values.timeout) * 1000;
const RSS_SIZES = values['no-rss'] ? [] : values.quick ? [128, 512] : values['rss-sizes'].split(',').map(Number);
/** Ferry transports whose agents' memory is measured. */
const RSS_TRANSPORTS = ['direct', 'passthrough', 'chunked'];

interface Row {
  link: string;
  method: string;
  run: number;
  ok: boolean;
  error?: string;
  /** QEMU's total-time (QEMU alone) or the record's totalMs (Ferry). */
  totalMs: number;
  /** From the migrate command to the guest running at the destination (Ferry: the whole CLI call, planner included). */
  wallMs: number;
  /** QEMU's downtime (both); Ferry also reports the heartbeat gap seen from outside. */
  downtimeMs: number;
  observedDowntimeMs?: number;
  /** Bytes on the wire, by `wireCounter`. */
  wireBytes: number;
  wireCounter: string;
  /** Other counters, for reference. */
  linkBytes?: number;
  qemuTransferred?: number;
  streamBytes?: number;
  recordWireBytes?: number;
  rounds: number;
  compression?: string;
  before?: Heartbeat;
  after?: Heartbeat;
}

interface RssRow {
  memoryMiB: number;
  transport: string;
  ok: boolean;
  error?: string;
  source: { baseline: number; peak: number };
  target: { baseline: number; peak: number };
  samples: number;
}

const started = new Date();
const rows: Row[] = [];
const rssRows: RssRow[] = [];
let multifdCodec: string | undefined;

async function linkBytes(link: NsLink | undefined): Promise<number | undefined> {
  if (!link) return undefined;
  const b = await link.bytes();
  return b.tx + b.rx;
}

async function runQemu(linkName: string, link: NsLink | undefined, method: string, run: number): Promise<Row> {
  const base: Row = { link: linkName, method, run, ok: false, totalMs: NaN, wallMs: NaN, downtimeMs: NaN, wireBytes: NaN, wireCounter: link ? 'link' : 'qemu', rounds: 0 };
  let src: QemuVm | undefined;
  let dst: QemuVm | undefined;
  try {
    // Same VM on both sides: same uuid (multifd checks it).
    const uuid = randomUUID();
    src = await startQemu({ memoryMiB: MEMORY, workload: WORKLOAD, uuid, ...(link ? { ns: link.ns.a } : {}) });
    const vm = src;
    await waitDirtying(() => vm.console(), `${method} source`);
    dst = await startQemu({ memoryMiB: MEMORY, workload: WORKLOAD, uuid, incoming: true, ...(link ? { ns: link.ns.b } : {}) });
    let codec: string | undefined;
    if (method === 'qemu-multifd') {
      codec = await multifdCompression(dst);
      multifdCodec = codec;
      if (!codec) return { ...base, error: 'this QEMU has no multifd compression' };
    }
    const tls = method === 'qemu-tls' ? await tlsCreds({ name: 'host1', ips: link ? [link.addr.a] : [] }, { name: 'host2', ips: link ? [link.addr.b] : [] }) : undefined;
    const host = link ? link.addr.b : '127.0.0.1';
    const port = link ? 4444 : await freePort();
    const b0 = await linkBytes(link);
    const r = await qemuMigrate(src, dst, { host, port, timeoutMs: TIMEOUT_MS, ...(codec ? { multifd: codec } : {}), ...(tls ? { tls } : {}) });
    if (!r.ok) r.error = `${r.error} [destination: ${dst.log().trim().split('\n').slice(-2).join(' | ')}]`;
    const b1 = await linkBytes(link);
    const lb = b0 !== undefined && b1 !== undefined ? b1 - b0 : undefined;
    return {
      ...base,
      ok: r.ok,
      ...(r.error ? { error: r.error } : {}),
      totalMs: r.totalMs,
      wallMs: r.wallMs,
      downtimeMs: r.downtimeMs,
      wireBytes: lb ?? r.qemuTransferred,
      ...(lb !== undefined ? { linkBytes: lb } : {}),
      qemuTransferred: r.qemuTransferred,
      rounds: r.rounds,
      ...(codec ? { compression: codec } : {}),
      ...(r.before ? { before: r.before } : {}),
      ...(r.after ? { after: r.after } : {}),
    };
  } catch (err) {
    return { ...base, error: (err as Error).message };
  } finally {
    await src?.stop();
    await dst?.stop();
  }
}

interface MigrationRecordLike {
  outcome: string;
  to: string;
  totalMs: number;
  downtimeMs: number;
  observedDowntimeMs?: number;
  wireBytes: number;
  streamBytes: number;
  rounds: number;
  transport: string;
  error?: { code: string; message: string };
}

let vmSeq = 0;
/** One Ferry migration host1 → host2 of a fresh VM; optionally samples both agents' RSS. */
async function runFerry(cl: MigCluster, linkName: string, link: NsLink | undefined, transport: string, run: number, memoryMiB: number, rss?: (r: RssRow) => void): Promise<Row> {
  const method = `ferry-${transport}`;
  const base: Row = { link: linkName, method, run, ok: false, totalMs: NaN, wallMs: NaN, downtimeMs: NaN, wireBytes: NaN, wireCounter: link ? 'link' : 'ferry-wire', rounds: 0 };
  const name = `bm${process.pid % 10000}-${++vmSeq}`;
  const consoleOf = async (): Promise<string> => (await cl.ferry(['vm', 'console', name, '--tail', '8192'], 30_000)).stdout;
  try {
    const c = await cl.ferry(['vm', 'create', name, '--memory', String(memoryMiB), '--workload', WORKLOAD, '--host', 'host1', '--json'], 180_000);
    if (c.code !== 0) throw new Error(`vm create: ${c.stderr.trim()}`);
    await waitDirtying(consoleOf, `${method} source`);
    const before = lastHeartbeat(await consoleOf());
    const sampler = sampleRss([cl.agents.host1, cl.agents.host2]);
    const b0 = await linkBytes(link);
    const t0 = performance.now();
    const r = await cl.ferry(['vm', 'migrate', name, '--to', 'host2', '--transport', transport, '--strategy', 'precopy', '--json'], TIMEOUT_MS + 120_000);
    const wallMs = performance.now() - t0;
    const b1 = await linkBytes(link);
    const s = sampler.stop();
    let rec: MigrationRecordLike | undefined;
    try {
      rec = JSON.parse(r.stdout) as MigrationRecordLike;
    } catch {
      rec = undefined;
    }
    const lb = b0 !== undefined && b1 !== undefined ? b1 - b0 : undefined;
    let error: string | undefined = r.code !== 0 || rec?.outcome !== 'succeeded' ? `migrate exited ${r.code}: ${r.stderr.trim() || rec?.error?.message || rec?.outcome}` : undefined;
    let after: Heartbeat | undefined;
    if (error) {
      const id = (rec as { id?: string } | undefined)?.id;
      const lines = [...cl.logTail('host1', id ?? name), ...cl.logTail('host2', id ?? name)];
      if (lines.length > 0) error += ` [agent logs: ${lines.join(' | ').slice(0, 1500)}]`;
    }
    if (!error) {
      const v = await verifyBeats(before, consoleOf);
      after = v.after;
      if (!v.ok) error = v.error;
    }
    rss?.({
      memoryMiB,
      transport,
      ok: !error,
      ...(error ? { error } : {}),
      source: { baseline: s.baseline[0]!, peak: s.peak[0]! },
      target: { baseline: s.baseline[1]!, peak: s.peak[1]! },
      samples: s.samples,
    });
    return {
      ...base,
      ok: !error,
      ...(error ? { error } : {}),
      totalMs: rec?.totalMs ?? NaN,
      wallMs,
      downtimeMs: rec?.downtimeMs ?? NaN,
      ...(rec?.observedDowntimeMs !== undefined ? { observedDowntimeMs: rec.observedDowntimeMs } : {}),
      wireBytes: lb ?? rec?.wireBytes ?? NaN,
      ...(lb !== undefined ? { linkBytes: lb } : {}),
      ...(rec ? { streamBytes: rec.streamBytes, recordWireBytes: rec.wireBytes, rounds: rec.rounds } : {}),
      ...(before ? { before } : {}),
      ...(after ? { after } : {}),
    };
  } catch (err) {
    return { ...base, error: (err as Error).message };
  } finally {
    await cl.ferry(['vm', 'stop', name, '--force'], 120_000);
    await cl.ferry(['vm', 'rm', name], 120_000);
  }
}

const mb = (b: number | undefined): string => (b === undefined || Number.isNaN(b) ? '-' : (b / 1e6).toFixed(1));
const sec = (ms: number): string => (Number.isNaN(ms) ? '-' : (ms / 1000).toFixed(2));
const msf = (ms: number | undefined): string => (ms === undefined || Number.isNaN(ms) ? '-' : ms.toFixed(0));

function printRows(): void {
  if (rows.length === 0) return;
  console.log(`\nlive migration: ${MEMORY} MiB demo guest, workload ${WORKLOAD}, TCG, ${RUNS} run(s) per method; fresh VM each run`);
  console.log(
    table([
      ['link', 'method', 'run', 'result', 'total s', 'wall s', 'downtime ms', 'observed ms', 'wire MB', 'counter', 'qemu/stream MB', 'rounds'],
      ...rows.map((r) => [
        r.link,
        r.method + (r.compression ? `(${r.compression})` : ''),
        String(r.run),
        r.ok ? 'ok' : 'FAILED',
        sec(r.totalMs),
        sec(r.wallMs),
        msf(r.downtimeMs),
        msf(r.observedDowntimeMs),
        mb(r.wireBytes),
        r.wireCounter,
        mb(r.qemuTransferred ?? r.streamBytes),
        String(r.rounds),
      ]),
    ]),
  );
  for (const r of rows.filter((x) => !x.ok)) console.log(`  FAILED ${r.link} ${r.method} run ${r.run}: ${r.error}`);
  console.log('security: qemu-tcp and qemu-multifd are unencrypted and unauthenticated; qemu-tls and every ferry-* are mutually authenticated and encrypted');
  console.log('          (ferry-passthrough/chunked: the agents\' Node TLS; ferry-direct: QEMU\'s gnutls)');
  console.log('counters: link = tx+rx bytes of the source namespace\'s veth (Ethernet frames, both directions; for Ferry this includes its small controller traffic);');
  console.log('          qemu = QEMU\'s ram.transferred; ferry-wire = the migration record\'s wireBytes (ferry-wire frames incl. framing, without TLS/TCP/IP overhead;');
  console.log('          ferry-direct: QEMU\'s transferred bytes + the ferry-wire control session)');
}

function printRss(): void {
  if (rssRows.length === 0) return;
  console.log(`\nagent resident memory during a Ferry migration (VmRSS every 100 ms, MiB; loopback; workload ${WORKLOAD})`);
  console.log(
    table([
      ['VM MiB', 'transport', 'result', 'source base', 'source peak', 'source +', 'target base', 'target peak', 'target +'],
      ...rssRows.map((r) => [String(r.memoryMiB), r.transport, r.ok ? 'ok' : 'FAILED', r.source.baseline, r.source.peak, r.source.peak - r.source.baseline, r.target.baseline, r.target.peak, r.target.peak - r.target.baseline]),
    ]),
  );
  const [small, big] = [Math.min(...RSS_SIZES), Math.max(...RSS_SIZES)];
  for (const t of RSS_TRANSPORTS) {
    // Growth during the migration (peak - baseline), the larger of the two agents.
    const growth = (m: number): number | undefined => {
      const r = rssRows.find((x) => x.memoryMiB === m && x.transport === t && x.ok);
      return r ? Math.max(r.source.peak - r.source.baseline, r.target.peak - r.target.baseline) : undefined;
    };
    const a = growth(small);
    const b = growth(big);
    if (a === undefined || b === undefined) {
      console.log(`  ${t}: no successful pair of runs at ${small} and ${big} MiB to compare`);
      continue;
    }
    const verdict = big === small ? 'one VM size, nothing to compare' : b - a < (big - small) / 4 ? 'does not scale with VM size' : 'GROWS with VM size';
    console.log(`  ${t}: agent growth during the migration +${a.toFixed(0)} MiB at ${small} MiB, +${b.toFixed(0)} MiB at ${big} MiB (guest +${big - small} MiB): ${verdict}`);
  }
}

async function main(): Promise<void> {
  if (values.quick) console.log('--quick: 1 run, RSS at 128 and 512 MiB');
  for (const linkName of LINKS) {
    let link: NsLink | undefined;
    let cl: MigCluster | undefined;
    try {
      if (linkName !== 'loopback') {
        const why = await netnsAvailable();
        if (why) {
          console.log(`skipping ${linkName}: ${why}`);
          continue;
        }
        link = await createLink('t');
        console.log(`${linkName}: namespaces ${Object.values(link.ns).join(', ')}; ${link.shaping}`);
      }
      if (RUNS > 0 && METHODS.some((m) => m.startsWith('ferry-'))) cl = link ? await namespaceCluster(link) : await loopbackCluster();
      for (let run = 1; run <= RUNS; run++) {
        for (const method of METHODS) {
          process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${linkName} ${method} run ${run}… `);
          const row = method.startsWith('qemu-') ? await runQemu(linkName, link, method, run) : await runFerry(cl!, linkName, link, method.slice('ferry-'.length), run, MEMORY);
          rows.push(row);
          process.stderr.write(`${row.ok ? 'ok' : `FAILED: ${row.error}`} total ${sec(row.totalMs)} s, downtime ${msf(row.downtimeMs)} ms, ${mb(row.wireBytes)} MB\n`);
        }
      }
      if (linkName === 'loopback') {
        await cl?.down();
        cl = undefined;
        // A fresh cluster for each measurement, so every baseline is an agent that has not migrated yet.
        for (const size of RSS_SIZES) {
          for (const t of RSS_TRANSPORTS) {
            process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] RSS ${size} MiB ${t}… `);
            const rc = await loopbackCluster();
            try {
              const row = await runFerry(rc, 'loopback', undefined, t, 0, size, (r) => rssRows.push(r));
              process.stderr.write(`${row.ok ? 'ok' : `FAILED: ${row.error}`}\n`);
            } finally {
              await rc.down();
            }
          }
        }
      }
    } catch (err) {
      console.log(`${linkName}: ${(err as Error).message}`);
    } finally {
      await cl?.down();
      await link?.destroy();
    }
  }

  printRows();
  printRss();
  mkdirSync(values.out, { recursive: true });
  const stamp = started.toISOString().replace(/[:.]/g, '-');
  const base = join(values.out, `migration-${stamp}`);
  const result = {
    startedAt: started.toISOString(),
    vm: { memoryMiB: MEMORY, workload: WORKLOAD, accel: 'tcg' },
    runs: RUNS,
    multifdCompression: multifdCodec ?? null,
    notes: {
      qemuTcp: 'QEMU defaults (no auto-converge, downtime-limit 300 ms) except max-bandwidth = 10 GiB/s',
      qemuTls: 'as qemu-tcp, in QEMU TLS: tls-creds-x509 with verify-peer on both sides, tls-hostname host2, authz-simple CN=host1',
      ferry: 'ferry vm migrate --strategy precopy --transport T (Ferry enables auto-converge; downtime-limit 300 ms)',
      counters: 'link = tx+rx of the source namespace veth; qemu = ram.transferred; ferry-wire = record wireBytes',
    },
    rows,
    rss: rssRows,
  };
  writeFileSync(`${base}.json`, JSON.stringify(result, null, 2) + '\n');
  console.log(`\nJSON: ${base}.json`);
  try {
    const png = await renderChart(result, base);
    console.log(`chart: ${png}`);
  } catch (err) {
    console.log(`chart not rendered: ${(err as Error).message}`);
  }
}

if (values.chart) console.log(`chart: ${await renderChart(JSON.parse(readFileSync(values.chart, 'utf8')) as ChartInput, values.chart.replace(/\.json$/, ''))}`);
else await main();
