// Hosts come and go by heartbeat. The first heartbeat registers a host, each one refreshes it
// and reconciles its VM records (reconcile.ts decides, this applies); a periodic sweep marks a
// host `down` once it has been silent for `downAfterMs`, and the next heartbeat brings it back.
// Silence is measured on the monotonic clock, so a wall-clock jump cannot fail a host.
//
// High availability: each reply carries a lease (HeartbeatReply.fence) on the VMs that `lease.vms`
// names for the host — the monitor does not know why — and remembers, per host, when it sent the
// last reply and what that lease named (`lastLease`), for the HA watcher to wait out. In memory:
// after a restart every host counts as sent a lease naming its VMs at start, the safe side.
import type { AgentHeartbeat, HeartbeatReply } from '../contracts/controller-api.js';
import { signCsr, type KeyAndCert } from '../pki/index.js';
import type { VmStatus } from '../contracts/vm-spec.js';
import type { ClusterState } from './cluster-state.js';
import type { ForeignCopies } from './cluster/foreign-copies.js';
import type { MoveRegistry } from './cluster/moves.js';
import type { Tombstones } from './cluster/tombstones.js';
import type { VmRevisions } from './cluster/vm-revisions.js';
import { InvalidRequestError } from './errors.js';
import { createLog } from './log.js';
import type { MetricsService } from './metrics/service.js';
import { reconcile } from './reconcile.js';

const log = createLog('ferry:controller:hosts');

export const HEARTBEAT_INTERVAL_MS = 1000;
export const SWEEP_INTERVAL_MS = 500;

/** What heartbeat replies lease: for how long, and which VMs of a host. */
export interface LeaseSource {
  leaseMs: number;
  vms(host: string): string[];
}

/** What tells reconcile a reported VM is not the record's to apply (see reconcile.ts). */
export interface ReportFilters {
  tombstones: Pick<Tombstones, 'recentlyRemoved'>;
  moves: Pick<MoveRegistry, 'movingTo'>;
  revisions: VmRevisions;
  foreign: Pick<ForeignCopies, 'isForeign'>;
}

/** The last reply sent to a host: when (performance.now()) and the VMs its lease named. */
export interface SentLease {
  at: number;
  vms: readonly string[];
}

export class HostMonitor {
  private readonly lastSeen = new Map<string, number>(); // host -> performance.now()
  private readonly leases = new Map<string, SentLease>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly state: ClusterState,
    private readonly filters: ReportFilters,
    private readonly downAfterMs: number,
    private readonly ca?: KeyAndCert,
    private readonly lease?: LeaseSource,
    /** Monitoring: every heartbeat is sampled, and the moment a host is marked down noted. */
    private readonly metrics?: Pick<MetricsService, 'ingest' | 'hostDown'>,
  ) {}

  /**
   * Starts the sweep. Hosts recorded `up` by a previous run get a full grace period, and every
   * known host counts as just sent a lease: a previous run may have sent one a moment ago.
   */
  start(sweepEveryMs = SWEEP_INTERVAL_MS): void {
    const now = performance.now();
    for (const h of this.state.hosts.list()) {
      if (h.state === 'up') this.lastSeen.set(h.info.name, now);
      if (this.lease) this.leases.set(h.info.name, { at: now, vms: this.lease.vms(h.info.name) });
    }
    this.timer ??= setInterval(() => this.sweep(), Math.min(sweepEveryMs, this.downAfterMs));
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  async heartbeat(hb: AgentHeartbeat): Promise<HeartbeatReply> {
    const reply = this.beat(hb);
    this.sample(hb);
    const certificate = this.ca && hb.csr !== undefined ? await this.certify(hb.host.name, hb.csr) : undefined;
    return { ...reply, ...(certificate ? { certificate } : {}), ...(this.ca ? { caCertificate: this.ca.certPem } : {}), ...this.renewLease(hb.host.name) };
  }

  /** Monitoring must never cost a host its heartbeat. */
  private sample(hb: AgentHeartbeat): void {
    try {
      this.metrics?.ingest(hb);
    } catch (err) {
      log('metrics of host %s not taken: %s', hb.host.name, (err as Error).message);
    }
  }

  /** The last reply sent to `host`, for high availability (undefined: none since start). */
  lastLease(host: string): SentLease | undefined {
    return this.leases.get(host);
  }

  /**
   * The lease this reply carries, noted as sent now: as late as the controller can note it. The
   * agent counts from when the reply arrives, later still; the HA margin covers that delay.
   */
  private renewLease(host: string): Pick<HeartbeatReply, 'fence'> {
    if (!this.lease) return {};
    const vms = this.lease.vms(host);
    this.leases.set(host, { at: performance.now(), vms });
    return vms.length > 0 ? { fence: { leaseMs: this.lease.leaseMs, vms } } : {};
  }

  /**
   * Signs the host's CSR for CN = its host name (the heartbeat is authenticated by the cluster
   * secret). The same CSR gets the certificate already issued; a new CSR gets a new one.
   */
  private async certify(host: string, csr: string): Promise<string> {
    const known = this.state.hosts.certificate(host);
    if (known && known.csr === csr) return known.certificate;
    let cert: string;
    try {
      cert = await signCsr(this.ca!, csr, host);
    } catch (err) {
      throw new InvalidRequestError('body.csr', `not signed: ${(err as Error).message}`);
    }
    this.state.hosts.setCertificate(host, csr, cert);
    log('issued a data-plane certificate to host %s', host);
    return cert;
  }

  private beat(hb: AgentHeartbeat): HeartbeatReply {
    const { host: info } = hb;
    const before = this.state.hosts.get(info.name);
    const now = new Date().toISOString();
    this.lastSeen.set(info.name, performance.now());
    this.state.hosts.upsert({ info, state: 'up', lastSeen: now, registeredAt: before?.registeredAt ?? now });
    this.reconcileVms(info.name, hb.vms);
    const changed = !before || before.state !== 'up' || before.info.url !== info.url || before.info.site !== info.site;
    if (changed) {
      log(before ? 'host %s is up (%s)' : 'host %s registered (%s)', info.name, info.url);
      this.state.publishHost(info.name);
    }
    return { intervalMs: HEARTBEAT_INTERVAL_MS };
  }

  /** Marks silent hosts down. Public so tests can drive it without waiting for the timer. */
  sweep(now = performance.now()): void {
    for (const h of this.state.hosts.list()) {
      if (h.state !== 'up') continue;
      const seen = this.lastSeen.get(h.info.name);
      if (seen === undefined) {
        this.lastSeen.set(h.info.name, now);
        continue;
      }
      if (now - seen < this.downAfterMs) continue;
      log('host %s is down: silent for %d ms', h.info.name, Math.round(now - seen));
      this.state.hosts.setState(h.info.name, 'down');
      this.metrics?.hostDown(h.info.name);
      this.state.publishHost(h.info.name);
    }
  }

  private reconcileVms(host: string, reported: readonly VmStatus[]): void {
    const site = this.state.hosts.get(host)?.info.site ?? '';
    const changes = reconcile({
      host,
      records: this.state.vms.list(),
      reported,
      busy: (name) => this.state.isBusy(name),
      recentlyRemoved: (uuid) => this.filters.tombstones.recentlyRemoved(uuid),
      movingTo: (name) => this.filters.moves.movingTo(name),
      stale: (st) => this.filters.revisions.isStale(host, st),
      foreign: (name) => this.filters.foreign.isForeign(name),
    });
    for (const c of changes) {
      switch (c.kind) {
        case 'update':
          this.filters.revisions.note(host, c.status);
          this.state.updateVm(c.name, c.patch);
          break;
        case 'missing':
          log('VM %s: %s', c.name, c.error);
          this.state.updateVm(c.name, { error: c.error });
          break;
        case 'adopt': {
          const st = c.status;
          log('adopting VM %s (%s) found on host %s', st.name, st.uuid, host);
          const now = new Date().toISOString();
          const s = st.spec;
          try {
            this.state.insertVm({
            name: st.name, uuid: st.uuid, state: st.state, host, site, memoryMiB: s.memoryMiB, vcpus: s.vcpus, workload: s.workload, spec: s,
            ...(st.metrics ? { metrics: st.metrics } : {}), endpoints: st.endpoints, ...(st.error !== undefined ? { error: st.error } : {}),
            createdAt: now, updatedAt: now,
            });
          } catch (err) {
            // e.g. its uuid belongs to a VM we know under another name: leave both alone.
            log('cannot adopt VM %s: %s', st.name, (err as Error).message);
          }
          break;
        }
        case 'ignore':
          log('VM %s reported by %s ignored: %s', c.name, host, c.why);
          break;
      }
    }
  }
}
