// MetricsService: the controller's time series of every VM and host. Heartbeats come in
// (`ingest`, from HostMonitor), become points (samples.ts) in tiered series (series.ts), and
// closed coarse buckets go to SQLite (store.ts). Readers: the API and `ferry metrics` (series),
// `ferry host list` / `vm list` (current load), the balancer (means and Sandpiper profiles),
// the Prometheus endpoint. Only VMs of record on the reporting host are sampled, so a VM
// reported by both ends of a migration never mixes two QEMUs' counters.
import type { Utilisation } from '../../contracts/balance.js';
import type { AgentHeartbeat } from '../../contracts/controller-api.js';
import { METRIC_TIERS, type HostLoad, type HostPoint, type HostSeries, type VmLoad, type VmPoint, type VmSeries } from '../../contracts/metrics.js';
import { NotFoundError } from '../errors.js';
import { rebucket } from './bucket.js';
import { planQuery } from './query.js';
import { hostPoint, vmLoadOf, vmPoint, type HostSample, type VmSample } from './samples.js';
import { Series, type ClosedBucket } from './series.js';
import { fromRow, HOST_SHAPE, T, toRow, VM_SHAPE, width, type Shape } from './shape.js';
import type { MetricsStore, SeriesKind, StoredPoint } from './store.js';

/** How often open buckets of quiet series are closed and old rows pruned. */
export const FLUSH_INTERVAL_MS = 10_000;
/** A bucket is closed this long after its end even if no later sample came. */
export const FLUSH_GRACE_MS = 5_000;

export interface MetricsDeps {
  /** The host a VM of record lives on; undefined: not a VM of record. */
  vmHost(vm: string): string | undefined;
  isHost(name: string): boolean;
  /** What placement counts on the host: memory promised to its live VMs, and its VMs. */
  usage(host: string): { memoryAllocatedMiB: number; vmCount: number };
  store?: MetricsStore | undefined;
  /** Epoch ms (default Date.now). */
  now?: () => number;
}

/** A host's load as measured; whether it is hot is the balancer's to say (HostLoad.hot, see cluster/host-views.ts). */
export type MeasuredHostLoad = Omit<HostLoad, 'hot'>;

interface Entry<S> {
  series: Series;
  prev?: S;
  /** Hosts: when it was marked down, while it is. */
  downSince?: number;
}

const KINDS = { vm: VM_SHAPE, host: HOST_SHAPE } as const;

export class MetricsService {
  private readonly vms = new Map<string, Entry<VmSample>>();
  private readonly hosts = new Map<string, Entry<HostSample>>();
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(private readonly deps: MetricsDeps) {
    this.now = deps.now ?? Date.now;
    this.load();
  }

  /** Starts the periodic flush (closes quiet buckets, prunes, forgets removed VMs). */
  start(everyMs = FLUSH_INTERVAL_MS): void {
    this.timer ??= setInterval(() => this.tick(), everyMs);
    this.timer.unref();
  }

  /** Stops the flush and writes the open buckets, which the next start reopens. Idempotent. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    const out: StoredPoint[] = [];
    for (const [kind, map] of this.maps()) for (const [name, e] of map) this.collect(out, kind, name, e.series.openBuckets());
    this.deps.store?.write(out);
  }

  ingest(hb: AgentHeartbeat): void {
    const received = this.now();
    const host = hb.host.name;
    const out: StoredPoint[] = [];
    const rates: VmPoint[] = [];
    for (const st of hb.vms) {
      if (!st.metrics || this.deps.vmHost(st.name) !== host) continue;
      const e = entry(this.vms, st.name, VM_SHAPE);
      const cur: VmSample = { t: st.metrics.sampledAtMs ?? received, host, m: st.metrics };
      const p = vmPoint(e.prev, cur);
      e.prev = cur;
      if (!p) continue;
      rates.push(p);
      this.collect(out, 'vm', st.name, e.series.add(toRow(VM_SHAPE, p)));
    }
    const h = entry(this.hosts, host, HOST_SHAPE);
    const cur: HostSample = { t: hb.host.sampledAtMs ?? received, info: hb.host };
    const use = this.deps.usage(host);
    const p = hostPoint({ ...cur, vms: rates, allocatedMiB: use.memoryAllocatedMiB, vmCount: use.vmCount, prev: h.prev });
    h.prev = cur;
    delete h.downSince;
    this.collect(out, 'host', host, h.series.add(toRow(HOST_SHAPE, p)));
    this.deps.store?.write(out);
  }

  /** The host went silent (HostMonitor marked it down): its load is no longer known. */
  hostDown(host: string, at = this.now()): void {
    const h = this.hosts.get(host);
    if (h) h.downSince = at;
  }

  /** When the host was marked down, if it is. */
  downSince(host: string): number | undefined {
    return this.hosts.get(host)?.downSince;
  }

  vmSeries(name: string, windowMs: number, stepMs?: number): VmSeries {
    if (this.deps.vmHost(name) === undefined && !this.vms.has(name)) throw new NotFoundError(`VM ${name}`);
    return this.query('vm', name, this.vms.get(name)?.series, windowMs, stepMs);
  }

  hostSeries(name: string, windowMs: number, stepMs?: number): HostSeries {
    if (!this.deps.isHost(name) && !this.hosts.has(name)) throw new NotFoundError(`host ${name}`);
    return this.query('host', name, this.hosts.get(name)?.series, windowMs, stepMs);
  }

  /** The VM's latest raw point (undefined until it has been sampled twice). */
  latestVm(name: string): VmPoint | undefined {
    const row = this.vms.get(name)?.series.latest();
    return row ? fromRow<VmPoint>(VM_SHAPE, row) : undefined;
  }

  /** The VM's latest rates (undefined until it has been sampled twice). */
  vmLoad(name: string): VmLoad | undefined {
    const p = this.latestVm(name);
    return p ? vmLoadOf(p) : undefined;
  }

  /** The host's latest point (undefined before its first heartbeat, or while it is down). */
  hostLoad(name: string): MeasuredHostLoad | undefined {
    const h = this.hosts.get(name);
    const row = h?.downSince === undefined ? h?.series.latest() : undefined;
    if (!row) return undefined;
    const p = fromRow<HostPoint>(HOST_SHAPE, row);
    return { cpu: p.cpu, net: p.net, mem: p.mem, volume: p.volume, ...(p.hostCpu !== undefined ? { hostCpu: p.hostCpu } : {}) };
  }

  /** Mean of the VM's raw points with now - windowMs <= t <= now. */
  vmMean(name: string, windowMs: number, nowMs = this.now()): VmLoad | undefined {
    const rows = this.vms.get(name)?.series.points(0, nowMs - windowMs, nowMs + 1) ?? [];
    const [mean] = rebucket(rows, Infinity, width(VM_SHAPE));
    return mean ? vmLoadOf(fromRow<VmPoint>(VM_SHAPE, mean)) : undefined;
  }

  /**
   * The host's utilisation averaged over consecutive buckets of `sampleMs` ending at `nowMs`:
   * the last `n` buckets that have data, oldest first — the samples of Sandpiper's k-of-n rule.
   */
  hostProfile(name: string, sampleMs: number, n: number, nowMs = this.now()): Utilisation[] {
    const series = this.hosts.get(name)?.series;
    if (!series || n <= 0 || sampleMs <= 0) return [];
    const tier = profileTier(sampleMs, n);
    const rows = series.points(tier, nowMs - METRIC_TIERS[tier]!.keepMs, nowMs + 1);
    // Bucket k covers (now - (k+1)·sampleMs, now - k·sampleMs]; walk newest first.
    const buckets: Float64Array[][] = [];
    let k = -1;
    for (let i = rows.length - 1; i >= 0; i--) {
      const bk = Math.floor((nowMs - rows[i]![T]!) / sampleMs);
      if (bk !== k) {
        if (buckets.length === n) break;
        buckets.push([]);
        k = bk;
      }
      buckets[buckets.length - 1]!.push(rows[i]!);
    }
    return buckets.reverse().map((b) => {
      const p = fromRow<HostPoint>(HOST_SHAPE, rebucket(b, Infinity, width(HOST_SHAPE))[0]!);
      return { cpu: p.cpu, net: p.net, mem: p.mem };
    });
  }

  vmNames(): string[] {
    return [...this.vms.keys()];
  }

  hostNames(): string[] {
    return [...this.hosts.keys()];
  }

  /** Drops a VM's series, in memory and in the database. */
  forgetVm(name: string): void {
    this.vms.delete(name);
    this.deps.store?.forget('vm', name);
  }

  /** Bytes held by the series (the tiers' arrays). */
  memoryBytes(): number {
    let n = 0;
    for (const [, map] of this.maps()) for (const e of map.values()) n += e.series.bytes;
    return n;
  }

  /** Closes quiet buckets, prunes each tier's retention, and forgets VMs no longer of record. */
  tick(now = this.now()): void {
    const out: StoredPoint[] = [];
    for (const [kind, map] of this.maps()) for (const [name, e] of map) this.collect(out, kind, name, e.series.flush(now, FLUSH_GRACE_MS));
    this.deps.store?.write(out);
    for (const t of METRIC_TIERS) if (t.stepMs > 0) this.deps.store?.prune(t.stepMs, now - t.keepMs);
    for (const [name, e] of this.vms) {
      if (this.deps.vmHost(name) === undefined && e.series.lastT < now - METRIC_TIERS[0]!.keepMs) this.forgetVm(name);
    }
  }

  private query<P extends VmPoint | HostPoint>(kind: SeriesKind, name: string, series: Series | undefined, windowMs: number, stepMs: number | undefined): { kind: SeriesKind; name: string; stepMs: number; from: number; to: number; points: P[] } {
    const plan = planQuery(windowMs, stepMs);
    const to = this.now();
    const from = to - windowMs;
    const shape = KINDS[kind];
    let rows = series?.points(plan.tier, from, Infinity) ?? [];
    if (plan.stepMs !== METRIC_TIERS[plan.tier]!.stepMs) rows = rebucket(rows, plan.stepMs, width(shape));
    return { kind, name, stepMs: plan.stepMs, from, to, points: rows.map((r) => fromRow<P>(shape, r)) };
  }

  private collect(out: StoredPoint[], kind: SeriesKind, name: string, closed: readonly ClosedBucket[]): void {
    for (const c of closed) out.push({ kind, name, stepMs: c.stepMs, point: fromRow(KINDS[kind], c.row) });
  }

  private maps(): [SeriesKind, Map<string, Entry<unknown>>][] {
    return [
      ['vm', this.vms],
      ['host', this.hosts],
    ];
  }

  /** Reads the persisted tiers back (constructor). */
  private load(): void {
    const store = this.deps.store;
    if (!store) return;
    const now = this.now();
    for (const tier of METRIC_TIERS) {
      if (tier.stepMs === 0) continue;
      store.prune(tier.stepMs, now - tier.keepMs);
      const groups = new Map<string, { kind: SeriesKind; name: string; rows: Float64Array[] }>();
      for (const p of store.load(tier.stepMs, now - tier.keepMs)) {
        const key = `${p.kind}/${p.name}`;
        let g = groups.get(key);
        if (!g) groups.set(key, (g = { kind: p.kind, name: p.name, rows: [] }));
        g.rows.push(toRow(KINDS[p.kind], p.point as VmPoint | HostPoint));
      }
      for (const g of groups.values()) {
        const map = g.kind === 'vm' ? this.vms : this.hosts;
        entry(map as Map<string, Entry<unknown>>, g.name, KINDS[g.kind]).series.restore(tier.stepMs, g.rows);
      }
    }
  }
}

function entry<S>(map: Map<string, Entry<S>>, name: string, shape: Shape): Entry<S> {
  let e = map.get(name);
  if (!e) map.set(name, (e = { series: new Series(width(shape)) }));
  return e;
}

/** The finest tier that keeps n samples of sampleMs and is no coarser than one sample. */
function profileTier(sampleMs: number, n: number): number {
  const i = METRIC_TIERS.findIndex((t) => t.stepMs <= sampleMs && t.keepMs >= sampleMs * n);
  return i >= 0 ? i : METRIC_TIERS.length - 1;
}
