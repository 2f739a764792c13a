// Placement: which host should a new VM run on? A pure function from a snapshot of the
// cluster to a decision, so it is tested with tables and never touches the network.
//
// Accounting (why these choices):
// - A host's memory is promised to every VM placed on it that is not `stopped` or `crashed`
//   (running, paused, suspended — a suspended VM comes back with all its memory — and every
//   transitional state), plus VMs that have a task in flight (a VM being created or started is
//   still `stopped` in the record, and two creations at once must not both see the same free
//   memory). Stopped VMs hold no memory, so a cluster can keep more defined VMs than it runs;
//   starting one checks capacity again (see `checkFits`).
// - A reserve is kept for the host itself (QEMU overhead, the agent, the OS).
// - vCPUs may be overcommitted up to `cpuOvercommit` × the host's cpus: guests are mostly idle
//   and TCG shares cores fine, but unbounded overcommit makes every guest crawl.
// - Among the hosts that fit, the one with the most free memory wins (ties: by name, so the
//   decision is deterministic).
import { HostDownError, NoCapacityError, NotFoundError } from './errors.js';

export const HOST_RESERVE_MIB = 512;
export const CPU_OVERCOMMIT = 4;

export interface PlacementHost {
  name: string;
  site: string;
  up: boolean;
  cpus: number;
  memoryMiB: number;
  /** The layer-2 segment of the host's guest bridge; absent: bridged NICs cannot run here. */
  segment?: string;
}

export interface PlacementVm {
  host: string;
  memoryMiB: number;
  vcpus: number;
  /** Does this VM hold its resources now (see the accounting rules above)? */
  allocated: boolean;
}

export interface PlacementRequest {
  memoryMiB: number;
  vcpus: number;
  /** A host the user named. */
  host?: string;
  site?: string;
  /** The VM has bridged NICs: the host needs a guest bridge, on this segment when one is given. */
  bridged?: { segment?: string };
}

export interface PlacementLimits {
  reserveMiB: number;
  cpuOvercommit: number;
}

export const DEFAULT_LIMITS: PlacementLimits = { reserveMiB: HOST_RESERVE_MIB, cpuOvercommit: CPU_OVERCOMMIT };

export interface HostUsage {
  memoryAllocatedMiB: number;
  vcpusAllocated: number;
  vmCount: number;
}

export function usageOf(host: string, vms: readonly PlacementVm[]): HostUsage {
  let memoryAllocatedMiB = 0;
  let vcpusAllocated = 0;
  let vmCount = 0;
  for (const vm of vms) {
    if (vm.host !== host) continue;
    vmCount++;
    if (!vm.allocated) continue;
    memoryAllocatedMiB += vm.memoryMiB;
    vcpusAllocated += vm.vcpus;
  }
  return { memoryAllocatedMiB, vcpusAllocated, vmCount };
}

/** Why `req` does not fit on `host`, or undefined if it does. Also returns the free memory. */
export function fitOn(
  host: PlacementHost,
  vms: readonly PlacementVm[],
  req: Pick<PlacementRequest, 'memoryMiB' | 'vcpus' | 'bridged'>,
  limits: PlacementLimits = DEFAULT_LIMITS,
): { freeMiB: number; why?: string } {
  const use = usageOf(host.name, vms);
  const freeMiB = host.memoryMiB - limits.reserveMiB - use.memoryAllocatedMiB;
  const segment = segmentMismatch(host, req.bridged);
  if (segment) return { freeMiB, why: segment };
  const vcpuLimit = host.cpus * limits.cpuOvercommit;
  if (req.memoryMiB > freeMiB) {
    return { freeMiB, why: `${host.name}: needs ${req.memoryMiB} MiB, ${Math.max(0, freeMiB)} MiB free (${host.memoryMiB} MiB total, ${use.memoryAllocatedMiB} allocated, ${limits.reserveMiB} reserved)` };
  }
  if (use.vcpusAllocated + req.vcpus > vcpuLimit) {
    return { freeMiB, why: `${host.name}: needs ${req.vcpus} vCPUs, ${vcpuLimit - use.vcpusAllocated} left (${host.cpus} cpus × ${limits.cpuOvercommit} overcommit, ${use.vcpusAllocated} allocated)` };
  }
  return { freeMiB };
}

/** Why a VM with bridged NICs cannot run on `host`, or undefined. */
export function segmentMismatch(host: PlacementHost, bridged: PlacementRequest['bridged']): string | undefined {
  if (!bridged) return undefined;
  if (host.segment === undefined) return `${host.name}: has no guest bridge for the VM's bridged NIC`;
  if (bridged.segment !== undefined && host.segment !== bridged.segment) {
    return `${host.name}: its guest bridge is on segment ${host.segment}, the VM's bridged NIC on ${bridged.segment} (it would lose its network)`;
  }
  return undefined;
}

/** Throws NO_CAPACITY if `req` does not fit on `host` (used when starting a stopped VM). */
export function checkFits(host: PlacementHost, vms: readonly PlacementVm[], req: Pick<PlacementRequest, 'memoryMiB' | 'vcpus' | 'bridged'>, limits = DEFAULT_LIMITS): void {
  const segment = segmentMismatch(host, req.bridged);
  if (segment) throw new NoCapacityError(`cannot run there: ${segment}`);
  const fit = fitOn(host, vms, req, limits);
  if (fit.why) throw new NoCapacityError(`not enough capacity on ${fit.why}`);
}

/** Picks a host for a new VM, or throws NOT_FOUND / HOST_DOWN / NO_CAPACITY saying why not. */
export function place(hosts: readonly PlacementHost[], vms: readonly PlacementVm[], req: PlacementRequest, limits = DEFAULT_LIMITS): string {
  if (req.host !== undefined) {
    const h = hosts.find((x) => x.name === req.host);
    if (!h) throw new NotFoundError(`host ${req.host}`);
    if (!h.up) throw new HostDownError(h.name);
    if (req.site !== undefined && h.site !== req.site) throw new NoCapacityError(`host ${h.name} is in site ${h.site}, not ${req.site}`);
    checkFits(h, vms, req, limits);
    return h.name;
  }
  const inSite = hosts.filter((h) => req.site === undefined || h.site === req.site);
  const up = inSite.filter((h) => h.up);
  const where = req.site === undefined ? '' : ` in site ${req.site}`;
  if (up.length === 0) {
    throw new NoCapacityError(inSite.length === 0 ? `no hosts${where}` : `no host is up${where} (${inSite.length} down)`);
  }
  const fits: { name: string; freeMiB: number }[] = [];
  const reasons: string[] = [];
  for (const h of up) {
    const fit = fitOn(h, vms, req, limits);
    if (fit.why) reasons.push(fit.why);
    else fits.push({ name: h.name, freeMiB: fit.freeMiB });
  }
  fits.sort((a, b) => b.freeMiB - a.freeMiB || a.name.localeCompare(b.name));
  const best = fits[0];
  if (!best) throw new NoCapacityError(`no host${where} can take ${req.memoryMiB} MiB / ${req.vcpus} vCPUs${req.bridged ? ' on a bridged NIC' : ''}: ${reasons.join('; ')}`);
  return best.name;
}
