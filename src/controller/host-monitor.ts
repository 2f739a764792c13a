// Hosts come and go by heartbeat. The first heartbeat registers a host, each one refreshes it
// and reconciles its VM records (reconcile.ts decides, this applies); a periodic sweep marks a
// host `down` once it has been silent for `downAfterMs`, and the next heartbeat brings it back.
// Silence is measured on the monotonic clock, so a wall-clock jump cannot fail a host.
//
// High availability: each reply carries a lease (HeartbeatReply.fence) on the VMs that `lease.vms`
// names for the host — the monitor does not know why — and remembers, per host, when it sent the
// last reply and what that lease named (`lastLease`), for the HA watcher to wait out. In memory:
// after a restart every host counts as sent a lease naming its VMs at start, the safe side.
// The lease comes first and never depends on bookkeeping: a reply whose database write or CSR
// signing failed (a full disk) still renews it — a host must not fence for our own fault.
// Each reply also names the other hosts' fence guards (`peers`), and each heartbeat tells what
// this host's guard heard of them (host-witness.ts): the evidence HA needs to tell a host that
// is cut off from one whose agent is merely silent (`evidence`).
// A controller that was itself frozen (SIGSTOP, a long GC pause, a slow disk) must not count its
// own pause as the hosts' silence: when the sweep timer fires far too late, every silence clock
// starts again and every witness report is forgotten (`stalls`).
import type { AgentHeartbeat, HeartbeatReply } from '../contracts/controller-api.js';
import type { StaleCopy } from '../contracts/fence.js';
import type { VmStatus } from '../contracts/vm-spec.js';
import type { ClusterState } from './cluster-state.js';
import type { ForeignCopies } from './cluster/foreign-copies.js';
import type { MoveRegistry } from './cluster/moves.js';
import type { Tombstones } from './cluster/tombstones.js';
import type { VmRevisions } from './cluster/vm-revisions.js';
import { FerryError } from '../contracts/errors.js';
import { createLog } from './log.js';
import type { MetricsService } from './metrics/service.js';
import { reconcile } from './reconcile.js';
import { WitnessBook, type HostEvidence } from './host-witness.js';

const log = createLog('ferry:controller:hosts');

export const HEARTBEAT_INTERVAL_MS = 1000;
export const SWEEP_INTERVAL_MS = 500;
/** A sweep this much later than due means the controller itself was stalled. */
export const STALL_MS = 2000;

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

export interface HostPki {
  renew(host: string, csr: string): Promise<string>;
  readonly fenceKey: string;
}

export class HostMonitor {
  private readonly lastSeen = new Map<string, number>(); // host -> performance.now()
  private readonly leases = new Map<string, SentLease>();
  private timer: NodeJS.Timeout | undefined;
  private sweepEveryMs = SWEEP_INTERVAL_MS;
  private lastSweepAt: number | undefined;
  private readonly witnesses = new WitnessBook();
  /** Stalls of the controller noticed so far (for status and tests). */
  readonly stalls: { at: number; ms: number }[] = [];

  constructor(
    private readonly state: ClusterState,
    private readonly filters: ReportFilters,
    private readonly downAfterMs: number,
    /** Renews a host's certificate for the CSR its heartbeat carries, and the guards' key (enrolment/service.ts). */
    private readonly pki?: HostPki,
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
    this.sweepEveryMs = Math.min(sweepEveryMs, this.downAfterMs);
    this.lastSweepAt = now;
    this.timer ??= setInterval(() => this.sweep(), this.sweepEveryMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  async heartbeat(hb: AgentHeartbeat): Promise<HeartbeatReply> {
    const host = hb.host.name;
    const now = performance.now();
    this.checkStall(now);
    this.lastSeen.set(host, now);
    this.witnesses.note(hb, now);
    const lease = this.renewLease(host);
    let kill: StaleCopy[] = [];
    try {
      kill = this.beat(hb);
    } catch (err) {
      log('heartbeat of host %s not recorded (%s); its lease is renewed all the same', host, (err as Error).message);
    }
    this.sample(hb);
    let certificate: string | undefined;
    let csrRefused: FerryError | undefined;
    if (this.pki && hb.csr !== undefined) {
      try {
        certificate = await this.pki.renew(host, hb.csr);
      } catch (err) {
        log('no certificate for host %s this time: %s', host, (err as Error).message);
        csrRefused = err instanceof FerryError ? err : new FerryError('INTERNAL', (err as Error).message);
      }
    }
    return {
      intervalMs: HEARTBEAT_INTERVAL_MS,
      ...(certificate ? { certificate } : {}), ...(this.pki ? { fenceKey: this.pki.fenceKey } : {}),
      ...(csrRefused ? { csrRefused: csrRefused.toBody().error } : {}),
      ...lease, ...(kill.length > 0 ? { kill } : {}),
    };
  }

  /** What the other hosts' guards testify about `host` (dr/ha.ts decides with it). */
  evidence(host: string, now = performance.now()): HostEvidence {
    this.checkStall(now);
    const hosts = this.state.hosts.list();
    const up = (h: string): boolean => hosts.some((x) => x.info.name === h && x.state === 'up');
    return this.witnesses.evidence(host, hosts.map((h) => h.info.name), now, this.downAfterMs, up, this.lastSeen.get(host));
  }

  /**
   * A timer that fires far too late means this process was stalled: what looks like the hosts'
   * silence is our own. Every silence clock starts again, and reports from before are dropped.
   */
  private checkStall(now: number): void {
    const last = this.lastSweepAt;
    if (last === undefined || now - last <= this.sweepEveryMs + STALL_MS) return;
    this.lastSweepAt = now;
    this.stalls.push({ at: now, ms: Math.round(now - last) });
    log('the controller was stalled for %d ms: restarting every host\'s silence clock', Math.round(now - last));
    for (const h of this.lastSeen.keys()) this.lastSeen.set(h, now);
    this.witnesses.forgetReports();
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
   * agent counts from when the reply arrives, later still; the HA margin covers that delay. If
   * naming the VMs fails (the database), the last lease sent is renewed as it was.
   */
  private renewLease(host: string): Pick<HeartbeatReply, 'fence' | 'peers'> {
    if (!this.lease) return {};
    let vms: readonly string[];
    try {
      vms = this.lease.vms(host);
    } catch (err) {
      vms = this.leases.get(host)?.vms ?? [];
      log('leased VMs of host %s not read (%s): renewing the last lease', host, (err as Error).message);
    }
    this.leases.set(host, { at: performance.now(), vms });
    const all = this.state.hosts.list().map((h) => h.info.name);
    const peers = this.witnesses.peersOf(host, all.includes(host) ? all : [...all, host]);
    return { ...(vms.length > 0 ? { fence: { leaseMs: this.lease.leaseMs, vms: [...vms] } } : {}), peers };
  }

  /** The bookkeeping of a heartbeat (database writes); returns the stale copies to kill. */
  private beat(hb: AgentHeartbeat): StaleCopy[] {
    const { host: info } = hb;
    const before = this.state.hosts.get(info.name);
    const now = new Date().toISOString();
    this.state.hosts.upsert({ info, state: 'up', lastSeen: now, registeredAt: before?.registeredAt ?? now });
    const kill = this.reconcileVms(info.name, hb.vms);
    const changed = !before || before.state !== 'up' || before.info.url !== info.url || before.info.site !== info.site;
    if (changed) {
      log(before ? 'host %s is up (%s)' : 'host %s registered (%s)', info.name, info.url);
      this.state.publishHost(info.name);
    }
    return kill;
  }

  /** Marks silent hosts down. Public so tests can drive it without waiting for the timer. */
  sweep(now = performance.now()): void {
    this.checkStall(now);
    this.lastSweepAt = now;
    for (const h of this.state.hosts.list()) {
      if (h.state !== 'up') continue;
      const seen = this.lastSeen.get(h.info.name);
      if (seen === undefined) {
        this.lastSeen.set(h.info.name, now);
        continue;
      }
      if (now - seen < this.downAfterMs) continue;
      log('host %s is down: silent for %d ms', h.info.name, Math.round(now - seen));
      try {
        this.state.hosts.setState(h.info.name, 'down');
        this.metrics?.hostDown(h.info.name);
        this.state.publishHost(h.info.name);
      } catch (err) {
        log('host %s not marked down (%s); next sweep', h.info.name, (err as Error).message);
      }
    }
  }

  private reconcileVms(host: string, reported: readonly VmStatus[]): StaleCopy[] {
    const kill: StaleCopy[] = [];
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
        case 'kill':
          log('VM %s on host %s is a stale copy: killing it on sight (%s)', c.name, host, c.why);
          kill.push({ vm: c.name, uuid: c.uuid, reason: c.why });
          break;
      }
    }
    return kill;
  }
}
