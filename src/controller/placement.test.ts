import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { place, type PlacementHost, type PlacementRequest, type PlacementVm } from './placement.js';

const host = (name: string, memoryMiB: number, o: Partial<PlacementHost> = {}): PlacementHost => ({ name, site: 'main', up: true, cpus: 2, memoryMiB, ...o });
const vm = (h: string, memoryMiB: number, o: Partial<PlacementVm> = {}): PlacementVm => ({ host: h, memoryMiB, vcpus: 1, allocated: true, ...o });

interface Case {
  name: string;
  hosts: PlacementHost[];
  vms?: PlacementVm[];
  req: PlacementRequest;
  want?: string;
  err?: { code: string; match?: RegExp };
}

const cases: Case[] = [
  { name: 'the only host that fits', hosts: [host('a', 2048)], req: { memoryMiB: 1024, vcpus: 1 }, want: 'a' },
  { name: 'most free memory wins', hosts: [host('a', 4096), host('b', 8192)], req: { memoryMiB: 512, vcpus: 1 }, want: 'b' },
  { name: 'allocations count', hosts: [host('a', 4096), host('b', 8192)], vms: [vm('b', 6000)], req: { memoryMiB: 512, vcpus: 1 }, want: 'a' },
  { name: 'stopped VMs hold nothing', hosts: [host('a', 4096), host('b', 8192)], vms: [vm('b', 6000, { allocated: false })], req: { memoryMiB: 512, vcpus: 1 }, want: 'b' },
  { name: 'ties go by name', hosts: [host('b', 4096), host('a', 4096)], req: { memoryMiB: 512, vcpus: 1 }, want: 'a' },
  { name: 'down hosts are skipped', hosts: [host('a', 4096), host('b', 8192, { up: false })], req: { memoryMiB: 512, vcpus: 1 }, want: 'a' },
  { name: 'the reserve is kept', hosts: [host('a', 1024)], req: { memoryMiB: 600, vcpus: 1 }, err: { code: 'NO_CAPACITY', match: /a: needs 600 MiB, 512 MiB free/ } },
  { name: 'exactly fits the reserve', hosts: [host('a', 1024)], req: { memoryMiB: 512, vcpus: 1 }, want: 'a' },
  { name: 'vCPU overcommit limit', hosts: [host('a', 65536, { cpus: 1 })], vms: [vm('a', 64, { vcpus: 3 })], req: { memoryMiB: 64, vcpus: 2 }, err: { code: 'NO_CAPACITY', match: /needs 2 vCPUs, 1 left/ } },
  { name: 'vCPU overcommit allows 4x', hosts: [host('a', 65536, { cpus: 1 })], vms: [vm('a', 64, { vcpus: 3 })], req: { memoryMiB: 64, vcpus: 1 }, want: 'a' },
  { name: 'site filter', hosts: [host('a', 8192), host('d', 4096, { site: 'dr' })], req: { memoryMiB: 512, vcpus: 1, site: 'dr' }, want: 'd' },
  { name: 'no host in site', hosts: [host('a', 8192)], req: { memoryMiB: 512, vcpus: 1, site: 'dr' }, err: { code: 'NO_CAPACITY', match: /no hosts in site dr/ } },
  { name: 'all hosts down', hosts: [host('a', 8192, { up: false })], req: { memoryMiB: 512, vcpus: 1 }, err: { code: 'NO_CAPACITY', match: /no host is up/ } },
  { name: 'no hosts at all', hosts: [], req: { memoryMiB: 512, vcpus: 1 }, err: { code: 'NO_CAPACITY', match: /no hosts/ } },
  { name: 'nothing fits: every reason listed', hosts: [host('a', 1024), host('b', 2048)], req: { memoryMiB: 4096, vcpus: 1 }, err: { code: 'NO_CAPACITY', match: /a: needs 4096 MiB.*b: needs 4096 MiB/ } },
  { name: 'named host', hosts: [host('a', 4096), host('b', 8192)], req: { memoryMiB: 512, vcpus: 1, host: 'a' }, want: 'a' },
  { name: 'named host unknown', hosts: [host('a', 4096)], req: { memoryMiB: 512, vcpus: 1, host: 'z' }, err: { code: 'NOT_FOUND' } },
  { name: 'named host down', hosts: [host('a', 4096, { up: false })], req: { memoryMiB: 512, vcpus: 1, host: 'a' }, err: { code: 'HOST_DOWN' } },
  { name: 'named host full', hosts: [host('a', 4096)], vms: [vm('a', 3500)], req: { memoryMiB: 512, vcpus: 1, host: 'a' }, err: { code: 'NO_CAPACITY' } },
];

describe('place: bridged NICs', () => {
  const hosts = [host('h1', 8192, { segment: 'a' }), host('h2', 16384), host('h3', 4096, { segment: 'b' })];
  it('goes to a host with a guest bridge, on the named segment if there is one', () => {
    assert.equal(place(hosts, [], { memoryMiB: 512, vcpus: 1 }), 'h2');
    assert.equal(place(hosts, [], { memoryMiB: 512, vcpus: 1, bridged: {} }), 'h1');
    assert.equal(place(hosts, [], { memoryMiB: 512, vcpus: 1, bridged: { segment: 'b' } }), 'h3');
  });
  it('refuses a host off the segment, saying why', () => {
    assert.throws(() => place(hosts, [], { memoryMiB: 512, vcpus: 1, host: 'h2', bridged: {} }), /h2: has no guest bridge/);
    assert.throws(() => place(hosts, [], { memoryMiB: 512, vcpus: 1, host: 'h3', bridged: { segment: 'a' } }), /segment b, the VM's bridged NIC on a/);
    assert.throws(() => place(hosts, [], { memoryMiB: 512, vcpus: 1, site: 'main', bridged: { segment: 'c' } }), /no host in site main can take 512 MiB \/ 1 vCPUs on a bridged NIC: h1: its guest bridge is on segment a, .*h2: has no guest bridge/);
  });
});

describe('place', () => {
  for (const c of cases) {
    it(c.name, () => {
      const run = () => place(c.hosts, c.vms ?? [], c.req);
      if (c.want !== undefined) assert.equal(run(), c.want);
      else assert.throws(run, (e: { code: string; message: string }) => e.code === c.err!.code && (!c.err!.match || c.err!.match.test(e.message)));
    });
  }
});
