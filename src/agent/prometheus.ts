// The agent's Prometheus / OpenMetrics exposition (GET /metrics, src/contracts/metrics.ts): this host
// and its VMs, read on scrape from the same numbers the heartbeat carries. prom-client with our
// own registries (never the global one), one per content type because a prom-client registry
// renders one format; a scrape asking for `application/openmetrics-text` gets OpenMetrics 1.0,
// any other Prometheus text 0.0.4.
//
// Every family is declared as data (FAMILIES) and filled from one snapshot per scrape, so a
// scrape costs one heartbeat's worth of reads however many families there are.
import { collectDefaultMetrics, Counter, Gauge, openMetricsContentType, prometheusContentType, Registry, type RegistryContentType } from 'prom-client';
import type { HostInfo, VmStatus } from '../contracts/index.js';
import { SerialQueue } from './serial-queue.js';

export interface Snapshot {
  host: HostInfo;
  vms: VmStatus[];
}

type Labels = Record<string, string>;
type Sample = readonly [Labels, number | undefined];

interface Family {
  name: string;
  help: string;
  kind: 'gauge' | 'counter';
  labels: readonly string[];
  samples(s: Snapshot): Iterable<Sample>;
}

const MIB = 1024 * 1024;
const VM_LABELS = ['vm', 'host'] as const;
const HOST_LABELS = ['host'] as const;

/** One sample per live VM with metrics, of the number `pick` takes from them. */
function perVm(name: string, help: string, kind: Family['kind'], pick: (m: NonNullable<VmStatus['metrics']>) => number | undefined): Family {
  return {
    name, help, kind, labels: VM_LABELS,
    *samples(s) {
      for (const vm of s.vms) if (vm.metrics) yield [{ vm: vm.name, host: s.host.name }, pick(vm.metrics)];
    },
  };
}

/** The host's one sample of the number `pick` takes from HostInfo. */
function perHost(name: string, help: string, kind: Family['kind'], pick: (h: HostInfo) => number | undefined): Family {
  return { name, help, kind, labels: HOST_LABELS, samples: (s) => [[{ host: s.host.name }, pick(s.host)]] };
}

export const FAMILIES: readonly Family[] = [
  perVm('ferry_vm_cpu_seconds_total', 'CPU time of the VM\'s QEMU process (user + system), seconds', 'counter', (m) => m.cpuSeconds),
  perVm('ferry_vm_rss_bytes', 'Resident memory of the VM\'s QEMU process', 'gauge', (m) => m.rssBytes),
  perVm('ferry_vm_balloon_bytes', 'Guest memory as the balloon reports it', 'gauge', (m) => m.balloonBytes),
  perVm('ferry_vm_disk_read_bytes_total', 'Bytes read from the VM\'s disks', 'counter', (m) => m.diskReadBytes),
  perVm('ferry_vm_disk_write_bytes_total', 'Bytes written to the VM\'s disks', 'counter', (m) => m.diskWriteBytes),
  perVm('ferry_vm_disk_read_ops_total', 'Read operations on the VM\'s disks', 'counter', (m) => m.diskReadOps),
  perVm('ferry_vm_disk_write_ops_total', 'Write operations on the VM\'s disks', 'counter', (m) => m.diskWriteOps),
  perVm('ferry_vm_net_rx_bytes_total', 'Ethernet bytes the guest received (QEMU filter-dump; reset when its QEMU process changes)', 'counter', (m) => m.netRxBytes),
  perVm('ferry_vm_net_tx_bytes_total', 'Ethernet bytes the guest sent (QEMU filter-dump; reset when its QEMU process changes)', 'counter', (m) => m.netTxBytes),
  perVm('ferry_vm_dirty_bytes_per_second', 'Guest memory dirtied per second, last measured by page sampling', 'gauge', (m) => m.dirtyBytesPerSec),
  {
    name: 'ferry_vm_state', help: 'The VM\'s state (1 for the state it is in)', kind: 'gauge', labels: [...VM_LABELS, 'state'],
    samples: (s) => s.vms.map((vm) => [{ vm: vm.name, host: s.host.name, state: vm.state }, 1] as const),
  },
  perHost('ferry_host_cpus', 'CPUs of the host', 'gauge', (h) => h.cpus),
  perHost('ferry_host_memory_bytes', 'Memory of the host', 'gauge', (h) => h.memoryMiB * MIB),
  perHost('ferry_host_memory_free_bytes', 'Free memory of the host', 'gauge', (h) => h.memoryFreeMiB * MIB),
  perHost('ferry_host_cpu_busy_seconds_total', 'CPU time the whole host spent busy, all cpus (/proc/stat)', 'counter', (h) => h.cpuBusySeconds),
  perHost('ferry_host_net_capacity_bytes_per_second', 'Configured capacity of the host\'s network link', 'gauge', (h) => h.netBytesPerSec),
  perHost('ferry_host_load1', 'One-minute load average of the host', 'gauge', (h) => h.loadAvg1),
];

/** Registers `f` in `reg`, filled from `current()` each time the registry renders. */
function register(reg: Registry<RegistryContentType>, f: Family, current: () => Snapshot | undefined): void {
  const fill = (set: (labels: Labels, v: number) => void) => {
    const s = current();
    if (!s) return;
    for (const [labels, v] of f.samples(s)) if (v !== undefined && Number.isFinite(v)) set(labels, v);
  };
  const common = { name: f.name, help: f.help, labelNames: f.labels, registers: [reg] };
  if (f.kind === 'counter') {
    new Counter({ ...common, collect() { this.reset(); fill((l, v) => this.inc(l, Math.max(0, v))); } });
  } else {
    new Gauge({ ...common, collect() { this.reset(); fill((l, v) => this.set(l, v)); } });
  }
}


export class AgentMetrics {
  readonly #regs = new Map<RegistryContentType, Registry<RegistryContentType>>();
  #snapshot: Snapshot | undefined;
  readonly #queue = new SerialQueue();

  constructor(private readonly source: () => Promise<Snapshot>) {}

  /** The exposition for a request's Accept header: { contentType, body }. */
  scrape(accept: string | undefined): Promise<{ contentType: string; body: string }> {
    const type: RegistryContentType = accept?.includes('application/openmetrics-text') ? openMetricsContentType : prometheusContentType;
    // One scrape at a time: the collectors read the snapshot taken for this scrape.
    const run = async () => {
      this.#snapshot = await this.source();
      try {
        return { contentType: type, body: await this.#registry(type).metrics() };
      } finally {
        this.#snapshot = undefined;
      }
    };
    return this.#queue.run(run);
  }

  #registry(type: RegistryContentType): Registry<RegistryContentType> {
    let reg = this.#regs.get(type);
    if (!reg) {
      reg = new Registry<RegistryContentType>();
      reg.setContentType(type);
      for (const f of FAMILIES) register(reg, f, () => this.#snapshot);
      collectDefaultMetrics({ register: reg, prefix: 'ferry_agent_' });
      this.#regs.set(type, reg);
    }
    return reg;
  }
}
