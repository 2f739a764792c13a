// Which VMs a heartbeat reply to a host leases (HeartbeatReply.fence, see ha.ts), read from the
// protections and the VM records alone: the host monitor is built with this before the DR
// service, which reads the leases the monitor sent back (HostMonitor.lastLease).
import type { Vm } from '../../contracts/controller-api.js';
import type { LeaseSource } from '../host-monitor.js';
import { leasedVms } from './ha.js';
import type { DrRepo } from './repo.js';

export function leaseSource(leaseMs: number, protections: Pick<DrRepo, 'list'>, vms: { list(): Vm[] }): LeaseSource {
  return {
    leaseMs,
    vms: (host) => {
      const ps = protections.list().map((r) => r.protection);
      if (ps.length === 0) return [];
      const hosts = new Map(vms.list().map((vm) => [vm.name, vm.host]));
      return leasedVms(ps, (vm) => hosts.get(vm), host);
    },
  };
}
