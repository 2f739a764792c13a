// Monitoring contracts: what the controller keeps of the agents' samples (time series with
// retention and downsampling), what the API and `ferry metrics` show, and the Prometheus
// endpoints.
//
// Agents sample every heartbeat (about 1 s): cumulative counters (CPU seconds, disk and network
// bytes) and gauges (RSS, balloon, dirty rate) per VM, and the host's totals and capacity
// (VmMetrics, HostInfo). The controller turns counters into rates between two samples and keeps
// each VM's and host's points in tiers:
//   raw    — every sample,          kept METRIC_TIERS[0].keepMs (10 min);
//   10 s   — mean of its samples,   kept 6 h;
//   5 min  — mean of its samples,   kept 14 days.
// The coarse tiers are written to the controller's database, so history survives a restart.
//
// Controller API (admin token):
//   GET /api/v1/metrics/vms/:name?window=1h[&step=30s]    -> MetricSeries<VmPoint>   (`ferry metrics VM`)
//   GET /api/v1/metrics/hosts/:name?window=1h[&step=30s]  -> MetricSeries<HostPoint> (`ferry metrics HOST`)
// The answer uses the finest tier that still covers the window; `step` re-buckets it coarser.
// Prometheus / OpenMetrics text (bearer token, as Prometheus' `authorization` config sends it):
//   controller  GET /metrics  — admin token: every host and VM, migrations, DR, balancer;
//   agent       GET /metrics  — cluster secret: this host and its VMs, sampled on scrape.
import { Type, type Static } from '@sinclair/typebox';

export const METRICS_PATH = '/metrics';

export interface MetricTier {
  /** Width of one point; 0 = every sample as it came. */
  stepMs: number;
  keepMs: number;
}

export const METRIC_TIERS: readonly MetricTier[] = [
  { stepMs: 0, keepMs: 10 * 60_000 },
  { stepMs: 10_000, keepMs: 6 * 3_600_000 },
  { stepMs: 300_000, keepMs: 14 * 86_400_000 },
];

/** One point of a VM's series (a mean over the point's samples when downsampled). */
export const VmPoint = Type.Object({
  /** Epoch ms: the sample's time, or the start of the bucket. */
  t: Type.Number(),
  /** Cores busy running the VM (QEMU's CPU time per second; 1.0 = one core all the time). */
  cpuCores: Type.Number(),
  rssMiB: Type.Number(),
  balloonMiB: Type.Optional(Type.Number()),
  /** Guest memory dirtied per second, as last measured (page sampling). */
  dirtyMiBps: Type.Optional(Type.Number()),
  diskReadBps: Type.Number(),
  diskWriteBps: Type.Number(),
  netRxBps: Type.Number(),
  netTxBps: Type.Number(),
  /** Samples behind this point (1 for raw points). */
  samples: Type.Integer({ minimum: 1 }),
});
export type VmPoint = Static<typeof VmPoint>;

/**
 * One point of a host's series. `cpu`, `net` and `mem` are the utilisation the balancer sees:
 * the sum over the host's VMs against the host's capacity (cpus, link bytes/s, memory), 0..1.
 */
export const HostPoint = Type.Object({
  t: Type.Number(),
  cpu: Type.Number(),
  net: Type.Number(),
  mem: Type.Number(),
  /** Sandpiper volume 1/((1-cpu)(1-net)(1-mem)). */
  volume: Type.Number(),
  /** The whole machine's CPU busy fraction (from /proc/stat), VMs or not. */
  hostCpu: Type.Optional(Type.Number()),
  memoryFreeMiB: Type.Number(),
  vmCount: Type.Number(),
  samples: Type.Integer({ minimum: 1 }),
});
export type HostPoint = Static<typeof HostPoint>;

export const MetricSeries = <T extends typeof VmPoint | typeof HostPoint>(point: T) =>
  Type.Object({
    kind: Type.Union([Type.Literal('vm'), Type.Literal('host')]),
    name: Type.String(),
    /** Width of each point in ms (0: raw samples). */
    stepMs: Type.Integer({ minimum: 0 }),
    /** Epoch ms of the window's start and end. */
    from: Type.Number(),
    to: Type.Number(),
    points: Type.Array(point),
  });
export const VmSeries = MetricSeries(VmPoint);
export type VmSeries = Static<typeof VmSeries>;
export const HostSeries = MetricSeries(HostPoint);
export type HostSeries = Static<typeof HostSeries>;

/** `window` and `step` are durations: 90s, 10m, 1h, 2d (or plain ms). */
export const MetricsQuery = Type.Object(
  {
    window: Type.Optional(Type.String({ pattern: '^[0-9]+(ms|s|m|h|d)?$', maxLength: 20 })),
    step: Type.Optional(Type.String({ pattern: '^[0-9]+(ms|s|m|h|d)?$', maxLength: 20 })),
  },
  { additionalProperties: false },
);
export type MetricsQuery = Static<typeof MetricsQuery>;

/** Current load of a VM as `ferry vm list` shows it (the latest raw point). */
export const VmLoad = Type.Object({
  cpuCores: Type.Number(),
  rssMiB: Type.Number(),
  dirtyMiBps: Type.Optional(Type.Number()),
  diskBps: Type.Number(),
  netBps: Type.Number(),
});
export type VmLoad = Static<typeof VmLoad>;

/** Current load of a host as `ferry host list` shows it. */
export const HostLoad = Type.Object({
  cpu: Type.Number(),
  net: Type.Number(),
  mem: Type.Number(),
  volume: Type.Number(),
  hostCpu: Type.Optional(Type.Number()),
  /** Hot by the balancer's k-of-n rule. */
  hot: Type.Boolean(),
});
export type HostLoad = Static<typeof HostLoad>;
