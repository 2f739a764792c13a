// Hosts as the API, the event stream and Prometheus show them: the record, what its VMs hold,
// and its current load — measured by the metrics service, judged hot or not by the balancer.
// Built after both; the records reach it by event (ClusterState.watchHosts), so ClusterState,
// which the metrics service and the balancer read, never needs either of them.
import type { Host } from '../../contracts/controller-api.js';
import type { HostLoad } from '../../contracts/metrics.js';
import type { ClusterState } from '../cluster-state.js';
import type { EventBus } from '../events.js';
import type { HostRecord } from '../hosts-repo.js';
import type { MeasuredHostLoad } from '../metrics/service.js';

export interface HostViewsDeps {
  state: ClusterState;
  bus: EventBus;
  /** The host's latest measured load (MetricsService.hostLoad). */
  measured(host: string): MeasuredHostLoad | undefined;
  /** The balancer's k-of-n hotspot rule (BalanceService.isHot). */
  isHot(host: string): boolean;
}

export class HostViews {
  constructor(private readonly d: HostViewsDeps) {
    d.state.watchHosts((name) => this.publish(name));
  }

  /** The host's current load, undefined before its first samples or while it is down. */
  load(host: string): HostLoad | undefined {
    const m = this.d.measured(host);
    return m && { ...m, hot: this.d.isHot(host) };
  }

  view(rec: HostRecord, vms = this.d.state.vms.list()): Host {
    const use = this.d.state.usage(rec.info.name, vms);
    const i = rec.info;
    const load = this.load(i.name);
    return {
      name: i.name,
      site: i.site,
      state: rec.state,
      url: i.url,
      cpus: i.cpus,
      memoryMiB: i.memoryMiB,
      ...use,
      accel: i.accel,
      qemuVersion: i.qemuVersion,
      loadAvg1: i.loadAvg1,
      memoryFreeMiB: i.memoryFreeMiB,
      lastSeen: rec.lastSeen,
      ...(load ? { load } : {}),
      ...(i.guestNetwork ? { guestNetwork: i.guestNetwork } : {}),
    };
  }

  list(): Host[] {
    const vms = this.d.state.vms.list();
    return this.d.state.hosts.list().map((h) => this.view(h, vms));
  }

  private publish(name: string): void {
    const rec = this.d.state.hosts.get(name);
    if (rec) this.d.bus.publish({ type: 'host', host: this.view(rec) });
  }
}
