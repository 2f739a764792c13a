// The controller's records of the cluster, over the repositories: host and VM records, the
// placement snapshot, and the one place VM records change — so every change that matters
// publishes a `vm` event and tells the record watchers (the location registry), metrics-only
// updates do not flood the stream, and a change of a host's allocation tells the host watchers
// (HostViews publishes the `host` event, with the load this module knows nothing of).
//
// What decides how a heartbeat's report is read lives beside it in ./cluster/, one concern
// each: MoveRegistry (moves in flight and their switch-over), Tombstones (VMs deleted moments
// ago), VmRevisions (stale reports), ForeignCopies (DR test copies). This module uses three:
// placement counts a moving VM at its target too, a removal leaves a tombstone, and an applied
// status notes its revision.
import type { Vm } from '../contracts/controller-api.js';
import type { LocationReason } from '../contracts/endpoints.js';
import type { VmStatus } from '../contracts/vm-spec.js';
import type { MoveRegistry } from './cluster/moves.js';
import type { Tombstones } from './cluster/tombstones.js';
import type { VmRevisions } from './cluster/vm-revisions.js';
import type { EventBus } from './events.js';
import { HostDownError, NotFoundError } from './errors.js';
import type { HostRecord, HostsRepo } from './hosts-repo.js';
import { usageOf, type HostUsage, type PlacementHost, type PlacementVm } from './placement.js';
import type { TaskRunner } from './task-runner.js';
import type { VmPatch, VmsRepo } from './vms-repo.js';

export const vmTarget = (name: string): string => `vm/${name}`;

/** Told of every VM record change (`before`/`after` undefined: inserted/removed), with why it moved if it did. */
export type VmWatcher = (before: Vm | undefined, after: Vm | undefined, reason?: LocationReason) => void;

export interface ClusterStateDeps {
  hosts: HostsRepo;
  vms: VmsRepo;
  runner: TaskRunner;
  bus: EventBus;
  moves: Pick<MoveRegistry, 'movingTo'>;
  tombstones: Pick<Tombstones, 'remember'>;
  revisions: Pick<VmRevisions, 'note'>;
}

export class ClusterState {
  readonly hosts: HostsRepo;
  readonly vms: VmsRepo;
  readonly runner: TaskRunner;
  private readonly watchers: VmWatcher[] = [];
  private readonly hostWatchers: ((host: string) => void)[] = [];

  constructor(private readonly d: ClusterStateDeps) {
    this.hosts = d.hosts;
    this.vms = d.vms;
    this.runner = d.runner;
  }

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

  /** Watches VM records (the location registry). */
  watchVms(w: VmWatcher): void {
    this.watchers.push(w);
  }

  /** `w` is told when a host's record or its allocation (memory and vCPUs promised, VM count) changed. */
  watchHosts(w: (host: string) => void): void {
    this.hostWatchers.push(w);
  }

  private placementVms(vms: readonly Vm[]): PlacementVm[] {
    const out = vms.map((vm) => this.placementVm(vm));
    for (const vm of vms) {
      const to = this.d.moves.movingTo(vm.name);
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

  /** Tells the host watchers that the host's record or allocation changed. */
  publishHost(name: string): void {
    for (const w of this.hostWatchers) w(name);
  }

  insertVm(vm: Vm): void {
    this.vms.insert(vm);
    this.d.bus.publish({ type: 'vm', vm });
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
    if (significant) this.d.bus.publish({ type: 'vm', vm: a });
    if (significant) for (const w of this.watchers) w(b, a, reason);
    // The hosts' allocation (memory and vCPUs promised, VM count) changed with it.
    if (b.host !== a.host || b.state !== a.state) for (const h of new Set([b.host, a.host])) this.publishHost(h);
    return a;
  }

  /** Takes what an agent answered about a VM. */
  applyStatus(st: VmStatus): Vm | undefined {
    const host = this.vms.get(st.name)?.host;
    if (host !== undefined) this.d.revisions.note(host, st);
    return this.updateVm(st.name, { state: st.state, endpoints: st.endpoints, error: st.error, ...(st.metrics ? { metrics: st.metrics } : {}) });
  }

  removeVm(name: string, opts: { tombstone: boolean }): void {
    const vm = this.vms.get(name);
    if (!vm || !this.vms.remove(name)) return;
    if (opts.tombstone) this.d.tombstones.remember(vm.uuid);
    this.d.bus.publish({ type: 'vm.removed', name });
    for (const w of this.watchers) w(vm, undefined);
    this.publishHost(vm.host);
  }
}
