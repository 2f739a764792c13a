import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ClusterEvent, Vm } from '../../contracts/controller-api.js';
import type { VmLocation } from '../../contracts/endpoints.js';
import { withDefaults } from '../../contracts/vm-spec.js';
import { LocationRegistry, SLIRP_GUEST_ADDRESS } from './registry.js';

const U = '00000000-0000-4000-8000-000000000001';
const vm = (o: Partial<Vm> = {}): Vm => ({
  name: 'web', uuid: U, state: 'running', host: 'h1', site: 'main', memoryMiB: 64, vcpus: 1, workload: 'http',
  spec: withDefaults({ name: 'web', memoryMiB: 64, workload: 'http' }, U), endpoints: [{ guestPort: 80, host: '127.0.0.1', port: 40001 }],
  createdAt: 't', updatedAt: 't', ...o,
});

function setup() {
  const events: VmLocation[] = [];
  const reg = new LocationRegistry((e: ClusterEvent) => e.type === 'location' && events.push(e.location), () => [80], () => 'now');
  return { reg, events };
}

describe('location registry', () => {
  it('a new VM is located where it was created, with its guest address, forwards and exposed ports', () => {
    const { reg, events } = setup();
    reg.changed(undefined, vm(), 'created');
    assert.deepEqual(events, [{
      vm: 'web', uuid: U, host: 'h1', site: 'main', addresses: { guest: SLIRP_GUEST_ADDRESS, forwards: [{ guestPort: 80, host: '127.0.0.1', port: 40001 }] },
      ports: [80], since: 'now', reason: 'created',
    }]);
    assert.equal(reg.confirmedHost('web'), 'h1');
  });

  it('a migration: the host moves first (forwards unknown, held), then the target reports its own forwards, same reason', () => {
    const { reg, events } = setup();
    const a = vm();
    reg.seed([a]);
    const moved = vm({ host: 'h2' });
    reg.changed(a, moved, 'migrated');
    assert.equal(reg.confirmedHost('web'), undefined, 'the old forwards are not the new host\'s');
    assert.deepEqual(events.at(-1)?.addresses.forwards, []);
    assert.equal(events.at(-1)?.reason, 'migrated');
    // A state-only change meanwhile confirms nothing.
    const paused = vm({ host: 'h2', state: 'paused' });
    reg.changed(moved, paused);
    assert.equal(reg.confirmedHost('web'), undefined);
    const reported = vm({ host: 'h2', endpoints: [{ guestPort: 80, host: '127.0.0.1', port: 40002 }] });
    reg.changed(paused, reported);
    assert.equal(reg.confirmedHost('web'), 'h2');
    const last = events.at(-1)!;
    assert.equal(last.host, 'h2');
    assert.equal(last.reason, 'migrated');
    assert.deepEqual(last.addresses.forwards, [{ guestPort: 80, host: '127.0.0.1', port: 40002 }]);
  });

  it('failover to another site carries its reason and site', () => {
    const { reg, events } = setup();
    const a = vm();
    reg.seed([a]);
    reg.changed(a, vm({ host: 'h3', site: 'dr' }), 'failover');
    assert.equal(events.at(-1)?.site, 'dr');
    assert.equal(events.at(-1)?.reason, 'failover');
  });

  it('changes that do not touch host, site or forwards publish nothing; removal forgets the VM', () => {
    const { reg, events } = setup();
    const a = vm();
    reg.seed([a]);
    reg.changed(a, vm({ error: 'x' }));
    assert.equal(events.length, 0);
    reg.changed(a, undefined);
    assert.equal(reg.get('web'), undefined);
    assert.deepEqual(reg.list(), []);
  });

  it('a restart on the same host with new forwards is "started"', () => {
    const { reg, events } = setup();
    const stopped = vm({ state: 'stopped', endpoints: [] });
    reg.seed([stopped]);
    reg.changed(stopped, vm({ endpoints: [{ guestPort: 80, host: '127.0.0.1', port: 40009 }] }));
    assert.equal(events.at(-1)?.reason, 'started');
    assert.equal(reg.confirmedHost('web'), 'h1');
  });

  it('running again after a suspend is "restored"', () => {
    const { reg, events } = setup();
    const suspended = vm({ state: 'suspended', endpoints: [] });
    reg.seed([suspended]);
    reg.changed(suspended, vm({ endpoints: [{ guestPort: 80, host: '127.0.0.1', port: 40010 }] }));
    assert.equal(events.at(-1)?.reason, 'restored');
  });
});
