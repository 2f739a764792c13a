// `ferry metrics NAME`: a VM's or host's history from the controller's time series
// (src/contracts/metrics.ts). NAME is tried as a VM, then as a host (--vm / --host decide instead).
// Text output: one sparkline per main field, then a table of the points; --json: the series.
import type { Command } from 'commander';
import type { HostLoad, HostPoint, HostSeries, VmLoad, VmPoint, VmSeries } from '../../contracts/metrics.js';
import { FerryError } from '../../contracts/errors.js';
import type { ApiClient } from '../../contracts/http-client.js';
import { connect } from '../config.js';
import { pct, rate } from '../../contracts/format.js';
import { formatTable, printJson, setErrorContext, UsageError } from '../output.js';
import { jsonOption, type JsonOpt } from './common.js';

interface MetricsOpts extends JsonOpt {
  window: string;
  step?: string;
  vm?: boolean;
  host?: boolean;
}

const BARS = '▁▂▃▄▅▆▇█';
export const SPARK_WIDTH = 60;

export function registerMetrics(program: Command): void {
  jsonOption(program.command('metrics').argument('<name>').description("a VM's or host's history: sparklines and a table of points; --json prints the series"))
    .option('--window <DURATION>', 'how far back: 90s, 10m, 1h, 2d (at most 14d)', '10m')
    .option('--step <DURATION>', 'width of each point (coarser than the stored tier)')
    .option('--vm', 'NAME is a VM')
    .option('--host', 'NAME is a host')
    .action(async (name: string, o: MetricsOpts) => {
      if (o.vm && o.host) throw new UsageError('--vm and --host exclude each other');
      const query = `?window=${encodeURIComponent(o.window)}${o.step !== undefined ? `&step=${encodeURIComponent(o.step)}` : ''}`;
      const series = await fetchSeries(connect(), name, query, o);
      if (o.json) return printJson(series);
      process.stdout.write(`${formatSeries(series)}\n`);
    });
}

async function fetchSeries(api: ApiClient, name: string, query: string, o: MetricsOpts): Promise<VmSeries | HostSeries> {
  const get = (kind: 'vms' | 'hosts') => api.get<VmSeries | HostSeries>(`/api/v1/metrics/${kind}/${encodeURIComponent(name)}${query}`);
  if (o.host) {
    setErrorContext(`host ${name}`);
    return get('hosts');
  }
  setErrorContext(`vm ${name}`);
  try {
    return await get('vms');
  } catch (err) {
    if (o.vm || !(err instanceof FerryError) || err.code !== 'NOT_FOUND') throw err;
  }
  setErrorContext(undefined);
  try {
    return await get('hosts');
  } catch (err) {
    if (err instanceof FerryError && err.code === 'NOT_FOUND') throw new FerryError('NOT_FOUND', `no VM or host named ${name}`);
    throw err;
  }
}

/** Pure: values as a line of ▁..█, scaled from 0 (or the lowest, if below) to the highest; at most `width` columns. */
export function sparkline(values: readonly number[], width = SPARK_WIDTH): string {
  if (values.length === 0) return '';
  const cols: number[] = [];
  const per = Math.ceil(values.length / width);
  for (let i = 0; i < values.length; i += per) {
    const chunk = values.slice(i, i + per);
    cols.push(chunk.reduce((a, b) => a + b, 0) / chunk.length);
  }
  const lo = Math.min(0, ...cols);
  const hi = Math.max(...cols);
  return cols.map((v) => BARS[hi === lo ? 0 : Math.min(BARS.length - 1, Math.floor(((v - lo) / (hi - lo)) * BARS.length))]).join('');
}

const fixed = (n: number | undefined, d = 2): string | undefined => (n === undefined ? undefined : n.toFixed(d));

interface Field<P> {
  label: string;
  value: (p: P) => number | undefined;
  show: (n: number) => string;
}

const VM_SPARKS: Field<VmPoint>[] = [
  { label: 'cpu', value: (p) => p.cpuCores, show: (n) => `${n.toFixed(2)} cores` },
  { label: 'rss', value: (p) => p.rssMiB, show: (n) => `${n.toFixed(0)} MiB` },
  { label: 'dirty', value: (p) => p.dirtyMiBps, show: (n) => `${n.toFixed(1)} MiB/s` },
  { label: 'disk', value: (p) => p.diskReadBps + p.diskWriteBps, show: (n) => rate(n)! },
  { label: 'net', value: (p) => p.netRxBps + p.netTxBps, show: (n) => rate(n)! },
];

const HOST_SPARKS: Field<HostPoint>[] = [
  { label: 'cpu', value: (p) => p.cpu, show: (n) => pct(n)! },
  { label: 'net', value: (p) => p.net, show: (n) => pct(n)! },
  { label: 'mem', value: (p) => p.mem, show: (n) => pct(n)! },
  { label: 'volume', value: (p) => p.volume, show: (n) => n.toFixed(2) },
];

function sparks<P>(points: readonly P[], fields: readonly Field<P>[]): string[] {
  const w = Math.max(...fields.map((f) => f.label.length));
  return fields.flatMap((f) => {
    const vs = points.map(f.value).filter((v): v is number => v !== undefined);
    if (vs.length === 0) return [];
    return [`${f.label.padEnd(w)}  ${sparkline(vs)}  ${f.show(vs[vs.length - 1]!)} (max ${f.show(Math.max(...vs))})`];
  });
}

function time(t: number, spanMs: number): string {
  const iso = new Date(t).toISOString();
  return spanMs <= 86_400_000 ? iso.slice(11, 19) : iso.slice(5, 16).replace('T', ' ');
}

/** Pure: the text `ferry metrics` prints. */
export function formatSeries(s: VmSeries | HostSeries): string {
  const span = s.to - s.from;
  const head = `${s.kind} ${s.name}: ${s.points.length} points, ${s.stepMs === 0 ? 'every sample' : `${s.stepMs / 1000} s each`}, times in UTC`;
  if (s.points.length === 0) return `${head}\n(no samples in this window)`;
  if (s.kind === 'vm') {
    const pts = s.points as VmPoint[];
    const table = formatTable(
      ['TIME', 'CPU(cores)', 'RSS(MiB)', 'DIRTY(MiB/s)', 'DISK-R', 'DISK-W', 'NET-RX', 'NET-TX', 'SAMPLES'],
      pts.map((p) => [time(p.t, span), fixed(p.cpuCores), p.rssMiB.toFixed(0), fixed(p.dirtyMiBps, 1), rate(p.diskReadBps), rate(p.diskWriteBps), rate(p.netRxBps), rate(p.netTxBps), p.samples]),
    );
    return [head, ...sparks(pts, VM_SPARKS), '', table].join('\n');
  }
  const pts = s.points as HostPoint[];
  const table = formatTable(
    ['TIME', 'CPU', 'NET', 'MEM', 'VOLUME', 'HOST-CPU', 'FREE(MiB)', 'VMS', 'SAMPLES'],
    pts.map((p) => [time(p.t, span), pct(p.cpu), pct(p.net), pct(p.mem), p.volume.toFixed(2), pct(p.hostCpu), p.memoryFreeMiB.toFixed(0), fixed(p.vmCount, 0), p.samples]),
  );
  return [head, ...sparks(pts, HOST_SPARKS), '', table].join('\n');
}

/** Pure: the load columns of `ferry host list` (CPU% NET% MEM% VOLUME HOT). */
export function hostLoadCells(l: HostLoad | undefined): (string | undefined)[] {
  return l ? [pct(l.cpu), pct(l.net), pct(l.mem), l.volume.toFixed(2), l.hot ? 'yes' : 'no'] : [undefined, undefined, undefined, undefined, undefined];
}

/** Pure: the load columns of `ferry vm list` (CPU cores, RSS, DIRTY MiB/s). */
export function vmLoadCells(l: VmLoad | undefined): (string | undefined)[] {
  return l ? [l.cpuCores.toFixed(2), `${l.rssMiB.toFixed(0)} MiB`, fixed(l.dirtyMiBps, 1)] : [undefined, undefined, undefined];
}
