import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Vm } from '../contracts/controller-api.js';
import { FerryError } from '../contracts/errors.js';
import type { GuestNetwork, NicSpec, VmSpec } from '../contracts/vm-spec.js';
import { assignBridged, bridgedNeed, cloneNics, lanAddresses, usedAddresses } from './guest-net.js';

const NET: GuestNetwork = { segment: 'main', subnet: '10.77.1.0/24', gateway: '10.77.1.1' };
const spec = (nics: NicSpec[]): VmSpec => ({ name: 'web', uuid: '5d6a4c1e-2b1f-4c8e-9a43-0c1f2e3d4b5a', memoryMiB: 64, vcpus: 1, boot: { kind: 'demo' }, disks: [], nics, balloon: true, workload: 'idle' });
const vmOn = (s: VmSpec): Vm => ({ name: s.name, spec: s }) as unknown as Vm;
const code = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    return `${(err as FerryError).code} ${(err as FerryError & { field?: string }).field ?? ''}`.trim();
  }
  return 'no error';
};

describe('guest network addresses', () => {
  it('a user-mode VM needs no segment; a bridged one needs its own or any', () => {
    assert.equal(bridgedNeed(spec([{ network: 'user' }])), undefined);
    assert.deepEqual(bridgedNeed(spec([{ network: 'bridged' }])), {});
    assert.deepEqual(bridgedNeed(spec([{ network: 'user' }, { network: 'bridged', segment: 'dr' }])), { segment: 'dr' });
  });

  it('hands out the lowest free address from .10, skipping taken ones, with the gateway', () => {
    const s = assignBridged(spec([{ network: 'bridged' }, { network: 'bridged' }]), NET, new Set(['10.77.1.10']));
    assert.deepEqual(s.nics, [
      { network: 'bridged', segment: 'main', ip: '10.77.1.11/24', gw: '10.77.1.1' },
      { network: 'bridged', segment: 'main', ip: '10.77.1.12/24', gw: '10.77.1.1' },
    ]);
  });

  it('keeps a valid requested address and refuses bad ones naming the field', () => {
    assert.equal(assignBridged(spec([{ network: 'bridged', ip: '10.77.1.200/24' }]), NET, new Set()).nics[0]?.network, 'bridged');
    assert.equal(code(() => assignBridged(spec([{ network: 'bridged', ip: '10.77.2.5/24' }]), NET, new Set())), 'INVALID_REQUEST body.nics[0].ip');
    assert.equal(code(() => assignBridged(spec([{ network: 'bridged', ip: '10.77.1.5/16' }]), NET, new Set())), 'INVALID_REQUEST body.nics[0].ip');
    assert.equal(code(() => assignBridged(spec([{ network: 'bridged', ip: '10.77.1.1/24' }]), NET, new Set())), 'INVALID_REQUEST body.nics[0].ip');
    assert.equal(code(() => assignBridged(spec([{ network: 'bridged', ip: '10.77.1.255/24' }]), NET, new Set())), 'INVALID_REQUEST body.nics[0].ip');
    assert.equal(code(() => assignBridged(spec([{ network: 'bridged', ip: '10.77.1.20/24' }]), NET, new Set(['10.77.1.20']))), 'INVALID_REQUEST body.nics[0].ip');
    assert.equal(code(() => assignBridged(spec([{ network: 'user' }, { network: 'bridged', segment: 'dr' }]), NET, new Set())), 'INVALID_REQUEST body.nics[1].segment');
    assert.equal(code(() => assignBridged(spec([{ network: 'bridged', mac: '52:54:00:00:00:01' }]), NET, new Set(['52:54:00:00:00:01']))), 'INVALID_REQUEST body.nics[0].mac');
  });

  it('runs out of addresses with NO_CAPACITY', () => {
    const small: GuestNetwork = { segment: 'tiny', subnet: '10.9.9.0/30' };
    const s = assignBridged(spec([{ network: 'bridged' }, { network: 'bridged' }]), small, new Set());
    assert.deepEqual(s.nics.map((n) => (n.network === 'bridged' ? n.ip : '')), ['10.9.9.1/30', '10.9.9.2/30']);
    assert.equal(code(() => assignBridged(spec([{ network: 'bridged' }]), small, new Set(['10.9.9.1', '10.9.9.2']))), 'NO_CAPACITY');
  });

  it('lists addresses per segment with their MAC, and a clone gets none of them', () => {
    const a = assignBridged(spec([{ network: 'user', forwardPorts: [80] }, { network: 'bridged' }]), NET, new Set());
    const lan = lanAddresses(a);
    assert.equal(lan.length, 1);
    assert.equal(lan[0]?.ip, '10.77.1.10');
    assert.match(lan[0]?.mac ?? '', /^52:54:00(:[0-9a-f]{2}){3}$/);
    assert.deepEqual([...usedAddresses([vmOn(a)], 'main')], ['10.77.1.10', lan[0]?.mac]);
    assert.deepEqual([...usedAddresses([vmOn(a)], 'dr')], []);
    assert.deepEqual(cloneNics({ ...a, nics: a.nics.map((n) => ({ ...n, mac: '52:54:00:aa:bb:cc' })) }), [
      { network: 'user', forwardPorts: [80] },
      { network: 'bridged', segment: 'main' },
    ]);
  });
});
