// The controller's Prometheus/OpenMetrics endpoint (GET /metrics, admin token): gauges of every
// host and VM, migrations, DR and tasks, read from the services when Prometheus scrapes (the
// controller keeps no second copy of anything), plus Node's own metrics as ferry_controller_*.
// Other services' gauges (the balancer's) come in with the sources and join the same registry.
//
// Migration downtime and total time are gauges of each VM's last successful migration, not
// histograms: a histogram fed from the records would restart from zero with the controller and
// could only be rebuilt by replaying every record; a per-VM gauge is exact from the database at
// any scrape, and Prometheus keeps its history (quantile_over_time works on it).
import { collectDefaultMetrics, Counter, Gauge, Registry, type CounterConfiguration, type GaugeConfiguration, type RegistryContentType } from 'prom-client';
import type { Host, Vm } from '../../contracts/controller-api.js';
import type { Protection } from '../../contracts/dr.js';
import type { MigrationStats } from './migration-stats.js';
import type { MetricsService } from './service.js';

const MIB = 1024 * 1024;

export interface PromSources {
  hosts(): Host[];
  vms(): Vm[];
  metrics: MetricsService;
  migrations: Pick<MigrationStats, 'byOutcome' | 'lastSucceeded'>;
  protections(): Protection[];
  tasksRunning(): number;
  /** More gauges, from other services (e.g. balance/prometheus.ts), added as the endpoint is built. */
  more?: readonly ((prom: PrometheusEndpoint) => void)[];
}

type Labels = Record<string, string>;
export type Emit = (labels: Labels, value: number) => void;

export class PrometheusEndpoint {
  readonly registry = new Registry<RegistryContentType>();
  /** Scrapes run one at a time: the content type is the registry's, set per scrape. */
  private chain: Promise<unknown> = Promise.resolve();
  /** What this scrape read already: every gauge sees the same hosts, VMs and records, read once. */
  private scraped: Map<string, unknown> | undefined;
  private readonly src: PromSources;

  constructor(sources: PromSources) {
    const once = <T>(key: string, read: () => T) => (): T => {
      if (!this.scraped) return read();
      if (!this.scraped.has(key)) this.scraped.set(key, read());
      return this.scraped.get(key) as T;
    };
    const { migrations } = sources;
    this.src = {
      ...sources,
      hosts: once('hosts', () => sources.hosts()),
      vms: once('vms', () => sources.vms()),
      protections: once('protections', () => sources.protections()),
      migrations: { byOutcome: once('byOutcome', () => migrations.byOutcome()), lastSucceeded: once('lastSucceeded', () => migrations.lastSucceeded()) },
    };
    collectDefaultMetrics({ register: this.registry, prefix: 'ferry_controller_' });
    this.hostGauges();
    this.vmGauges();
    this.clusterGauges();
    for (const add of sources.more ?? []) add(this);
  }

  /** The exposition in the format the Accept header asks for (OpenMetrics, or Prometheus text). */
  scrape(accept: string | undefined): Promise<{ contentType: string; body: string }> {
    const open = accept?.includes('application/openmetrics-text') ?? false;
    const run = this.chain.then(async () => {
      this.registry.setContentType(open ? Registry.OPENMETRICS_CONTENT_TYPE : Registry.PROMETHEUS_CONTENT_TYPE);
      this.scraped = new Map();
      try {
        return { contentType: this.registry.contentType, body: await this.registry.metrics() };
      } finally {
        this.scraped = undefined;
      }
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** A gauge filled at each scrape (other services add theirs this way, e.g. the balancer). */
  gauge(name: string, help: string, labelNames: readonly string[], fill: (emit: Emit) => void): void {
    const cfg: GaugeConfiguration<string> = {
      name, help, labelNames, registers: [this.registry],
      collect() {
        this.reset();
        fill((labels, value) => this.set(labels, value));
      },
    };
    new Gauge(cfg);
  }

  /** A counter filled at each scrape from a running total the caller keeps. */
  counter(name: string, help: string, labelNames: readonly string[], fill: (emit: Emit) => void): void {
    const cfg: CounterConfiguration<string> = {
      name, help, labelNames, registers: [this.registry],
      collect() {
        this.reset();
        fill((labels, value) => this.inc(labels, value));
      },
    };
    new Counter(cfg);
  }

  private hostGauges(): void {
    const { src } = this;
    const perHost = (name: string, help: string, value: (h: Host) => number | undefined): void =>
      this.gauge(name, help, ['host', 'site'], (emit) => {
        for (const h of src.hosts()) {
          const v = value(h);
          if (v !== undefined) emit({ host: h.name, site: h.site }, v);
        }
      });
    perHost('ferry_host_up', '1 while the host heartbeats, 0 once it is marked down', (h) => (h.state === 'up' ? 1 : 0));
    perHost('ferry_host_cpu_utilisation', "CPU used by the host's VMs / the host's cpus (0..1, more when overcommitted)", (h) => h.load?.cpu);
    perHost('ferry_host_net_utilisation', "network bytes/s of the host's VMs / the link's capacity", (h) => h.load?.net);
    perHost('ferry_host_mem_utilisation', "memory promised to the host's live VMs / its memory", (h) => h.load?.mem);
    perHost('ferry_host_volume', "Sandpiper's volume 1/((1-cpu)(1-net)(1-mem))", (h) => h.load?.volume);
    perHost('ferry_host_hot', '1 while the host is a hotspot by the balancer\'s k-of-n rule', (h) => (h.load ? Number(h.load.hot) : undefined));
    perHost('ferry_host_vms', 'VMs placed on the host', (h) => h.vmCount);
    perHost('ferry_host_memory_allocated_bytes', "memory promised to the host's VMs", (h) => h.memoryAllocatedMiB * MIB);
  }

  private vmGauges(): void {
    const { src } = this;
    const vms = (fill: (vm: Vm, emit: Emit) => void) => (emit: Emit) => {
      for (const vm of src.vms()) fill(vm, emit);
    };
    const point = (vm: Vm) => src.metrics.latestVm(vm.name);
    const at = (vm: Vm, extra: Labels = {}): Labels => ({ vm: vm.name, host: vm.host, ...extra });
    this.gauge('ferry_vm_running', '1 while the VM runs', ['vm', 'host', 'site'], vms((vm, emit) => emit({ vm: vm.name, host: vm.host, site: vm.site }, vm.state === 'running' ? 1 : 0)));
    this.gauge('ferry_vm_cpu_cores', 'cores busy running the VM', ['vm', 'host'], vms((vm, emit) => {
      const p = point(vm);
      if (p) emit(at(vm), p.cpuCores);
    }));
    this.gauge('ferry_vm_rss_bytes', "resident memory of the VM's QEMU", ['vm', 'host'], vms((vm, emit) => {
      const p = point(vm);
      if (p) emit(at(vm), p.rssMiB * MIB);
    }));
    this.gauge('ferry_vm_dirty_bytes_per_second', 'guest memory dirtied per second, as last measured', ['vm', 'host'], vms((vm, emit) => {
      const p = point(vm);
      if (p?.dirtyMiBps !== undefined) emit(at(vm), p.dirtyMiBps * MIB);
    }));
    this.gauge('ferry_vm_disk_bytes_per_second', 'disk bytes/s read and written by the guest', ['vm', 'host', 'direction'], vms((vm, emit) => {
      const p = point(vm);
      if (!p) return;
      emit(at(vm, { direction: 'read' }), p.diskReadBps);
      emit(at(vm, { direction: 'write' }), p.diskWriteBps);
    }));
    this.gauge('ferry_vm_net_bytes_per_second', 'network bytes/s received and sent by the guest', ['vm', 'host', 'direction'], vms((vm, emit) => {
      const p = point(vm);
      if (!p) return;
      emit(at(vm, { direction: 'rx' }), p.netRxBps);
      emit(at(vm, { direction: 'tx' }), p.netTxBps);
    }));
  }

  private clusterGauges(): void {
    const { src } = this;
    this.counter('ferry_migrations_total', 'live migrations by outcome (running ones counted as running)', ['outcome'], (emit) => {
      for (const o of src.migrations.byOutcome()) emit({ outcome: o.outcome }, o.n);
    });
    this.counter('ferry_migration_bytes_total', 'bytes on the wire between agents, all migrations', [], (emit) => {
      emit({}, src.migrations.byOutcome().reduce((n, o) => n + o.bytes, 0));
    });
    const last = (name: string, help: string, ms: (l: { downtimeMs: number; totalMs: number }) => number): void =>
      this.gauge(name, help, ['vm'], (emit) => {
        for (const l of src.migrations.lastSucceeded()) emit({ vm: l.vm }, ms(l) / 1000);
      });
    last('ferry_migration_downtime_seconds', "downtime of the VM's last successful migration (QEMU's count)", (l) => l.downtimeMs);
    last('ferry_migration_total_seconds', "total time of the VM's last successful migration", (l) => l.totalMs);
    this.gauge('ferry_dr_checkpoint_age_seconds', "age of the protected VM's newest committed checkpoint", ['vm'], (emit) => {
      for (const p of src.protections()) if (p.ageMs !== undefined) emit({ vm: p.vm }, p.ageMs / 1000);
    });
    this.gauge('ferry_dr_rpo_seconds', "the protected VM's recovery point objective", ['vm'], (emit) => {
      for (const p of src.protections()) emit({ vm: p.vm }, p.rpoMs / 1000);
    });
    this.gauge('ferry_tasks_running', 'tasks running now', [], (emit) => emit({}, src.tasksRunning()));
  }
}
