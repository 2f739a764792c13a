import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Vm } from '../../contracts/controller-api.js';
import type { Protection } from '../../contracts/dr.js';
import { leaseSource } from './leases.js';
import type { ProtectionRow } from './repo.js';

const row = (vm: string, o: Partial<Protection> = {}): ProtectionRow => ({ protection: { vm, ha: true, state: 'protected', ...o } as Protection, meta: { syncingSince: 't' } });
const vm = (name: string, host: string): Vm => ({ name, host }) as Vm;

describe('lease source', () => {
  it('leases the host\'s protected VMs with HA on, not failed over, read from the protections and records alone', () => {
    const rows = [row('web'), row('db', { ha: false }), row('old', { state: 'failed-over' }), row('far')];
    const src = leaseSource(4000, { list: () => rows }, { list: () => [vm('web', 'h1'), vm('db', 'h1'), vm('old', 'h1'), vm('far', 'h2')] });
    assert.equal(src.leaseMs, 4000);
    assert.deepEqual(src.vms('h1'), ['web']);
    assert.deepEqual(src.vms('h2'), ['far']);
    assert.deepEqual(leaseSource(4000, { list: () => [] }, { list: () => { throw new Error('no protections: the records are not read'); } }).vms('h1'), []);
  });
});
