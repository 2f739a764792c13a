// The location registry: for every VM where it runs now (host, site), the addresses known for
// it there, the guest ports exposed through service endpoints, since when and why. It follows
// the VM records (ClusterState.updateVm is the one place they change) and publishes a
// `location` event when a VM's host, site or addresses change.
//
// A record's endpoints are trusted for a host only once that host has reported them: when the
// record's host changes and its endpoints do not (the activation step sets the host first,
// then applies the new host's status), the forwards still belong to the old host, so the
// location shows none and service endpoints hold their clients until the new host's arrive.
import type { ClusterEvent, Vm } from '../../contracts/controller-api.js';
import type { LocationReason, VmLocation } from '../../contracts/endpoints.js';
import type { Endpoint, VmSpec } from '../../contracts/vm-spec.js';
import { lanAddresses } from '../guest-net.js';

/** QEMU user-mode networking gives the (first) guest this address (slirp's default). */
export const SLIRP_GUEST_ADDRESS = '10.0.2.15';

interface Entry {
  loc: VmLocation;
  /** The host the forwards in `loc` were reported by; undefined until the current host reports. */
  confirmedHost: string | undefined;
}

const sameForwards = (a: readonly Endpoint[], b: readonly Endpoint[]): boolean => JSON.stringify(a) === JSON.stringify(b);

export class LocationRegistry {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly publish: (e: ClusterEvent) => void,
    /** Guest ports of a VM exposed through service endpoints. */
    private readonly exposed: (vm: string) => number[],
    private readonly now: () => string = () => new Date().toISOString(),
  ) {}

  /** The VMs as the controller starts: their records were written by hosts that reported them. */
  seed(vms: readonly Vm[]): void {
    for (const vm of vms) this.entries.set(vm.name, { loc: this.locationOf(vm, vm.endpoints, vm.updatedAt, 'changed'), confirmedHost: vm.host });
  }

  get(vm: string): VmLocation | undefined {
    return this.entries.get(vm)?.loc;
  }

  list(): VmLocation[] {
    return [...this.entries.values()].map((e) => e.loc).sort((a, b) => a.vm.localeCompare(b.vm));
  }

  /** The host whose report the VM's forwards come from, if it is the VM's current host. */
  confirmedHost(vm: string): string | undefined {
    return this.entries.get(vm)?.confirmedHost;
  }

  /** A VM record changed (ClusterState's watcher). Returns the new location if it changed. */
  changed(before: Vm | undefined, after: Vm | undefined, reason?: LocationReason): VmLocation | undefined {
    if (!after) {
      if (before) this.entries.delete(before.name);
      return undefined;
    }
    const prev = this.entries.get(after.name);
    const moved = !prev || !before || before.host !== after.host || before.site !== after.site;
    const reported = !before || !sameForwards(before.endpoints, after.endpoints);
    // New endpoints come from the record's host; the same ones after a host change are the old host's.
    const confirmedHost = !prev || !before ? after.host : reported ? after.host : moved ? undefined : prev.confirmedHost;
    const forwards = confirmedHost === after.host ? after.endpoints : [];
    if (prev && !moved && prev.confirmedHost === confirmedHost && sameForwards(prev.loc.addresses.forwards, forwards)) return undefined;
    // The forwards arriving after a move complete that move: keep its reason.
    const completing = !moved && prev !== undefined && prev.confirmedHost === undefined;
    const why = reason ?? (completing ? prev.loc.reason : defaultReason(before, after));
    const loc = this.locationOf(after, forwards, this.now(), why);
    this.entries.set(after.name, { loc, confirmedHost });
    this.publish({ type: 'location', location: loc });
    return loc;
  }

  /** The exposed ports of a VM changed. */
  portsChanged(vm: string): void {
    const e = this.entries.get(vm);
    if (!e) return;
    e.loc = { ...e.loc, ports: this.exposed(vm) };
    this.publish({ type: 'location', location: e.loc });
  }

  private locationOf(vm: Vm, forwards: readonly Endpoint[], since: string, reason: LocationReason): VmLocation {
    return {
      vm: vm.name,
      uuid: vm.uuid,
      host: vm.host,
      site: vm.site,
      addresses: { ...guestAddresses(vm.spec), forwards: [...forwards] },
      ports: this.exposed(vm.name),
      since,
      reason,
    };
  }
}

function defaultReason(before: Vm | undefined, after: Vm): LocationReason {
  if (!before) return 'created';
  if (after.state !== 'running' || before.state === 'running') return 'changed';
  return before.state === 'suspended' || before.state === 'restoring' ? 'restored' : 'started';
}

/** The first NIC's guest address (slirp's, or a bridged NIC's own) and every bridged NIC's. */
function guestAddresses(spec: VmSpec): Pick<VmLocation['addresses'], 'guest' | 'lan'> {
  const lan = lanAddresses(spec);
  const nic0 = spec.nics[0];
  const guest = nic0?.network === 'user' ? SLIRP_GUEST_ADDRESS : lan[0]?.ip;
  return { ...(guest ? { guest } : {}), ...(lan.length > 0 ? { lan } : {}) };
}
