// The controller's view of the cluster, over the repositories: host and VM records as the API
// shows them, the placement snapshot, and the one place VM records change — so every change
// that matters publishes a `vm` event, and metrics-only updates do not flood the stream.
import type { Host, Vm } from '../contracts/controller-api.js';
import type { LocationReason } from '../contracts/endpoints.js';
import type { HostLoad } from '../contracts/metrics.js';
import type { VmStatus } from '../contracts/vm-spec.js';
import type { EventBus } from './events.js';
import { HostDownError, NotFoundError } from './errors.js';
import type { HostRecord, HostsRepo } from './hosts-repo.js';
import { usageOf, type HostUsage, type PlacementHost, type PlacementVm } from './placement.js';
import type { TaskRunner } from './task-runner.js';
import type { VmPatch, VmsRepo } from './vms-repo.js';

/** How long a deleted VM's uuid is remembered, so a late heartbeat does not re-adopt it. */
const TOMBSTONE_MS = 60_000;

export const vmTarget = (name: string): string => `vm/${name}`;

/** Told of every VM record change (`before`/`after` undefined: inserted/removed), with why it moved if it did. */
export type VmWatcher = (before: Vm | undefined, after: Vm | undefined, reason?: LocationReason) => void;

export class ClusterState {
  private readonly tombstones = new Map<string, number>(); // uuid -> expiry (monotonic ms)
  private readonly revs = new Map<string, number>(); // `${host}/${uuid}` -> newest VmStatus.rev applied
  /** VMs being migrated -> their target host: held there as well as at the source until the task ends. */
  private readonly moving = new Map<string, string>();
  /** Names agents may report that are not VMs of record (DR test copies) -> until when (monotonic ms). */
  private readonly foreign = new Map<string, number>();
  /** VMs whose move is switching over (the copy of record may be paused): service endpoints hold new clients. */
  private readonly switching = new Set<string>();
  private readonly watchers: VmWatcher[] = [];
  private readonly switchWatchers: ((vm: string) => void)[] = [];
  /** Current load of a host, for the Host view (set by the metrics service). */
  hostLoad: (host: string) => HostLoad | undefined = () => undefined;

  constructor(
    readonly hosts: HostsRepo,
    readonly vms: VmsRepo,
    readonly runner: TaskRunner,
    private readonly bus: EventBus,
  ) {}

  requireVm(name: string): Vm {
    const vm = this.vms.get(name);
    if (!vm) throw new NotFoundError(`VM ${name}`);
    return vm;
  }

  /** The VM's host, which must be up to act on the VM. */
  requireHostUp(name: string): HostRecord {
    const h = this.hosts.get(name);
    if (!h) throw new HostDownError(name, 'is not registered');
    if (h.state !== 'up') throw new HostDownError(name);
    return h;
  }

  isBusy(vmName: string): boolean {
    return this.runner.busyWith(vmTarget(vmName)) !== undefined;
  }

  /** `exclude`: a VM to leave out, e.g. the one about to start, so it is not counted twice. */
  placementSnapshot(exclude?: string): { hosts: PlacementHost[]; vms: PlacementVm[] } {
    const hosts = this.hosts.list().map((h) => ({
      name: h.info.name, site: h.info.site, up: h.state === 'up', cpus: h.info.cpus, memoryMiB: h.info.memoryMiB,
      ...(h.info.guestNetwork ? { segment: h.info.guestNetwork.segment } : {}),
    }));
    const vms = this.vms.list().filter((vm) => vm.name !== exclude);
    return { hosts, vms: this.placementVms(vms) };
  }

  /** Holds the VM's resources on `to` as well while it migrates there (call in the same tick as the capacity check). */
  reserveMove(vmName: string, to: string): void {
    this.moving.set(vmName, to);
  }

  releaseMove(vmName: string): void {
    this.moving.delete(vmName);
  }

  /** The host a VM is migrating to, if it is. */
  movingTo(vmName: string): string | undefined {
    return this.moving.get(vmName);
  }

  /** A move of `vmName` reached its switch-over: from here until `endSwitch` no copy is safe to send clients to. */
  beginSwitch(vmName: string): void {
    if (this.switching.has(vmName)) return;
    this.switching.add(vmName);
    for (const w of this.switchWatchers) w(vmName);
  }

  endSwitch(vmName: string): void {
    if (!this.switching.delete(vmName)) return;
    for (const w of this.switchWatchers) w(vmName);
  }

  isSwitching(vmName: string): boolean {
    return this.switching.has(vmName);
  }

  /** Watches VM records (the location registry); `onSwitch` is told when a VM starts or ends switching. */
  watchVms(w: VmWatcher, onSwitch?: (vm: string) => void): void {
    this.watchers.push(w);
    if (onSwitch) this.switchWatchers.push(onSwitch);
  }

  /** Heartbeats neither adopt nor apply a VM of this name (a DR test copy) until `releaseForeign`. */
  holdForeign(name: string): void {
    this.foreign.set(name, Infinity);
  }

  /** Still skipped for a while: a heartbeat collected before the copy was deleted may arrive late. */
  releaseForeign(name: string): void {
    this.foreign.set(name, performance.now() + TOMBSTONE_MS);
  }

  isForeign(name: string): boolean {
    return held(this.foreign, name);
  }

  private placementVms(vms: readonly Vm[]): PlacementVm[] {
    const out = vms.map((vm) => this.placementVm(vm));
    for (const vm of vms) {
      const to = this.moving.get(vm.name);
      if (to !== undefined && to !== vm.host) out.push({ host: to, memoryMiB: vm.memoryMiB, vcpus: vm.vcpus, allocated: true });
    }
    return out;
  }

  private placementVm(vm: Vm): PlacementVm {
    // See placement.ts for why stopped VMs hold nothing unless a task is bringing them up.
    const allocated = (vm.state !== 'stopped' && vm.state !== 'crashed') || this.isBusy(vm.name);
    return { host: vm.host, memoryMiB: vm.memoryMiB, vcpus: vm.vcpus, allocated };
  }

  /** What the host's VMs hold: memory and vCPUs promised, VM count. */
  usage(host: string, vms: readonly Vm[] = this.vms.list()): HostUsage {
    return usageOf(host, this.placementVms(vms));
  }

  hostView(rec: HostRecord, vms: readonly Vm[] = this.vms.list()): Host {
    const use = this.usage(rec.info.name, vms);
    const i = rec.info;
    const load = this.hostLoad(i.name);
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

  listHosts(): Host[] {
    const vms = this.vms.list();
    return this.hosts.list().map((h) => this.hostView(h, vms));
  }

  publishHost(name: string): void {
    const rec = this.hosts.get(name);
    if (rec) this.bus.publish({ type: 'host', host: this.hostView(rec) });
  }

  insertVm(vm: Vm): void {
    this.vms.insert(vm);
    this.bus.publish({ type: 'vm', vm });
    for (const w of this.watchers) w(undefined, vm, 'created');
    this.publishHost(vm.host);
  }

  /** `reason`: why the VM's host changes, when it does (a migration, failover or failback). */
  updateVm(name: string, patch: VmPatch, reason?: LocationReason): Vm | undefined {
    const r = this.vms.update(name, patch);
    if (!r) return undefined;
    const { before: b, after: a } = r;
    const significant =
      b.state !== a.state || b.host !== a.host || b.error !== a.error || JSON.stringify(b.endpoints) !== JSON.stringify(a.endpoints) || b.spec !== a.spec;
    if (significant) this.bus.publish({ type: 'vm', vm: a });
    if (significant) for (const w of this.watchers) w(b, a, reason);
    // The hosts' allocation (memory and vCPUs promised, VM count) changed with it.
    if (b.host !== a.host || b.state !== a.state) for (const h of new Set([b.host, a.host])) this.publishHost(h);
    return a;
  }

  /** Is this report older than one already applied from the same host? */
  isStale(host: string, st: VmStatus): boolean {
    const seen = this.revs.get(`${host}/${st.uuid}`);
    return st.rev !== undefined && seen !== undefined && st.rev < seen;
  }

  /** Remembers the newest revision applied for a VM on a host (see VmStatus.rev). */
  noteRev(host: string, st: VmStatus): void {
    if (st.rev === undefined) return;
    const key = `${host}/${st.uuid}`;
    this.revs.set(key, Math.max(st.rev, this.revs.get(key) ?? 0));
  }

  /** Takes what an agent answered about a VM. */
  applyStatus(st: VmStatus): Vm | undefined {
    const host = this.vms.get(st.name)?.host;
    if (host !== undefined) this.noteRev(host, st);
    return this.updateVm(st.name, { state: st.state, endpoints: st.endpoints, error: st.error, ...(st.metrics ? { metrics: st.metrics } : {}) });
  }

  removeVm(name: string, opts: { tombstone: boolean }): void {
    const vm = this.vms.get(name);
    if (!vm || !this.vms.remove(name)) return;
    if (opts.tombstone) this.tombstones.set(vm.uuid, performance.now() + TOMBSTONE_MS);
    this.bus.publish({ type: 'vm.removed', name });
    for (const w of this.watchers) w(vm, undefined);
    this.publishHost(vm.host);
  }

  recentlyRemoved(uuid: string): boolean {
    return held(this.tombstones, uuid);
  }
}

/** Is `key` held in a map of expiry times (monotonic ms)? An expired key is forgotten. */
function held(until: Map<string, number>, key: string): boolean {
  const t = until.get(key);
  if (t === undefined) return false;
  if (t > performance.now()) return true;
  until.delete(key);
  return false;
}
