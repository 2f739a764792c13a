// Bridged NICs (docs/networking.md): which segment a VM's network is on, and the addresses the
// controller hands out on it. A VM keeps its address for life (migrations, restarts, suspend);
// a clone gets a new one. Pure functions over specs, so they are tested with tables.
import type { Vm } from '../contracts/controller-api.js';
import type { GuestNetwork, NicSpec, VmSpec } from '../contracts/vm-spec.js';
import { macFor } from '../contracts/mac.js';
import { InvalidRequestError, NoCapacityError } from './errors.js';

/** First host address handed out: the low ones are left for gateways and infrastructure. */
const FIRST_HOST_OFFSET = 10;

export interface LanAddress {
  segment: string;
  ip: string;
  mac: string;
}

/** What placement must respect for `spec`: undefined when it has no bridged NIC. */
export function bridgedNeed(spec: VmSpec): { segment?: string } | undefined {
  const nics = spec.nics.filter((n) => n.network === 'bridged');
  if (nics.length === 0) return undefined;
  const segment = nics.find((n) => n.segment !== undefined)?.segment;
  return segment === undefined ? {} : { segment };
}

/** `req` plus what placement must respect for `spec`'s bridged NICs. */
export function withBridgedNeed<T extends object>(req: T, spec: VmSpec): T & { bridged?: { segment?: string } } {
  const bridged = bridgedNeed(spec);
  return bridged ? { ...req, bridged } : req;
}

/** The bridged NICs' addresses (ADDR without prefix), for the location registry. */
export function lanAddresses(spec: VmSpec): LanAddress[] {
  return spec.nics.flatMap((n, i) => (n.network === 'bridged' && n.segment && n.ip ? [{ segment: n.segment, ip: n.ip.split('/')[0]!, mac: n.mac ?? macFor(spec.uuid, i) }] : []));
}

/** Addresses and MACs on `segment` that VMs already hold. */
export function usedAddresses(vms: readonly Vm[], segment: string): Set<string> {
  return new Set(vms.flatMap((vm) => lanAddresses(vm.spec).filter((a) => a.segment === segment).flatMap((a) => [a.ip, a.mac])));
}

/**
 * `spec` with every bridged NIC on `net`'s segment and addressed: a given address is checked
 * (in the subnet, not the network, broadcast or gateway, not taken); a missing one is the
 * lowest free. Throws INVALID_REQUEST naming the field, or NO_CAPACITY when the pool is empty.
 */
export function assignBridged(spec: VmSpec, net: GuestNetwork, used: ReadonlySet<string>): VmSpec {
  const taken = new Set(used);
  const nics = spec.nics.map((nic, i): NicSpec => {
    if (nic.network !== 'bridged') return nic;
    const field = `body.nics[${i}]`;
    if (nic.segment !== undefined && nic.segment !== net.segment) throw new InvalidRequestError(`${field}.segment`, `is ${nic.segment}, but the host's guest bridge is on ${net.segment}`);
    if (nic.mac && taken.has(nic.mac)) throw new InvalidRequestError(`${field}.mac`, `${nic.mac} is in use on segment ${net.segment}`);
    const ip = nic.ip ? checkAddress(nic.ip, net, taken, `${field}.ip`) : freeAddress(net, taken);
    taken.add(ip.split('/')[0]!);
    if (nic.mac) taken.add(nic.mac);
    const gw = nic.gw ?? net.gateway;
    return { ...nic, segment: net.segment, ip, ...(gw ? { gw } : {}) };
  });
  return { ...spec, nics };
}

/** NICs for a clone of `spec`: new MACs (derived from the clone's uuid by the agent) and, bridged, new addresses. */
export function cloneNics(spec: VmSpec): NicSpec[] {
  return spec.nics.map(({ mac: _mac, ...nic }) => (nic.network === 'bridged' ? { network: 'bridged', ...(nic.segment ? { segment: nic.segment } : {}) } : nic));
}

function checkAddress(cidr: string, net: GuestNetwork, taken: ReadonlySet<string>, field: string): string {
  const [addr, prefix] = cidr.split('/') as [string, string];
  const s = subnet(net.subnet);
  if (Number(prefix) !== s.prefix) throw new InvalidRequestError(field, `must use the segment's prefix /${s.prefix} (${net.subnet})`);
  const n = toInt(addr);
  if (n <= s.network || n >= s.broadcast) throw new InvalidRequestError(field, `${addr} is not a host address of ${net.subnet}`);
  if (addr === net.gateway) throw new InvalidRequestError(field, `${addr} is the segment's gateway`);
  if (taken.has(addr)) throw new InvalidRequestError(field, `${addr} is in use on segment ${net.segment}`);
  return cidr;
}

function freeAddress(net: GuestNetwork, taken: ReadonlySet<string>): string {
  const s = subnet(net.subnet);
  const first = s.broadcast - s.network > FIRST_HOST_OFFSET * 2 ? s.network + FIRST_HOST_OFFSET : s.network + 1;
  for (let n = first; n < s.broadcast; n++) {
    const addr = toDotted(n);
    if (addr !== net.gateway && !taken.has(addr)) return `${addr}/${s.prefix}`;
  }
  throw new NoCapacityError(`no free address left on segment ${net.segment} (${net.subnet})`);
}

function subnet(cidr: string): { network: number; broadcast: number; prefix: number } {
  const [addr, p] = cidr.split('/') as [string, string];
  const prefix = Number(p);
  const size = 2 ** (32 - prefix);
  const network = Math.floor(toInt(addr) / size) * size;
  return { network, broadcast: network + size - 1, prefix };
}

function toInt(addr: string): number {
  return addr.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

function toDotted(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}
