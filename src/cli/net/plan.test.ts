import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from 'commander';
import { agentNetArgs, bridgedProblem, freeNetId, netnsName, newNetId, parseNetMode, parseNetnsList, planNet, portName, siteSubnet } from './plan.js';

const hosts = [
  { name: 'host1', site: 'main' },
  { name: 'host2', site: 'main' },
  { name: 'host3', site: 'dr' },
];

test('net ids are 4 hex digits', () => {
  assert.match(newNetId(), /^[0-9a-f]{4}$/);
  assert.equal(newNetId(() => Buffer.from([0xab, 0x01])), 'ab01');
});

test('a fresh id avoids ids that existing namespaces use', () => {
  const seq = [Buffer.from([0xab, 0x01]), Buffer.from([0xab, 0x01]), Buffer.from([0x00, 0x02])];
  const random = (): Buffer => seq.shift()!;
  assert.equal(freeNetId(['ferry-ab01-main', 'other'], random), '0002');
  assert.throws(() => freeNetId(['ferry-ab01-main'], () => Buffer.from([0xab, 0x01])), /no free cluster net id/);
});

test('sites get 10.77.<i>.0/24 in --sites order, hosts their namespace and port', () => {
  assert.deepEqual(planNet('ab01', hosts), {
    id: 'ab01',
    sites: [
      { site: 'main', netns: 'ferry-ab01-main', subnet: '10.77.1.0/24', gateway: '10.77.1.1' },
      { site: 'dr', netns: 'ferry-ab01-dr', subnet: '10.77.2.0/24', gateway: '10.77.2.1' },
    ],
    hosts: [
      { host: 'host1', site: 'main', netns: 'ferry-ab01-host1', port: 'p-host1' },
      { host: 'host2', site: 'main', netns: 'ferry-ab01-host2', port: 'p-host2' },
      { host: 'host3', site: 'dr', netns: 'ferry-ab01-host3', port: 'p-host3' },
    ],
  });
  assert.deepEqual(siteSubnet(254), { subnet: '10.77.254.0/24', gateway: '10.77.254.1' });
  assert.equal(netnsName('ab01', 'dr'), 'ferry-ab01-dr');
  assert.throws(() => planNet('AB01', hosts), /bad cluster net id/);
});

test('port names fit in 15 characters', () => {
  assert.equal(portName('host1', 1), 'p-host1');
  assert.equal(portName('host123456789', 7), 'p-host123456789');
  assert.equal(portName('host1234567890', 7), 'p7');
});

test('bridged networking refuses long site names, too many sites and sites named like hosts', () => {
  assert.equal(bridgedProblem(hosts), undefined);
  assert.equal(bridgedProblem([{ name: 'host1', site: 'a'.repeat(32) }]), undefined);
  assert.match(bridgedProblem([{ name: 'host1', site: 'a'.repeat(33) }]) ?? '', /at most 32 characters/);
  assert.match(bridgedProblem([{ name: 'host1', site: 'host1' }]) ?? '', /also a host name/);
  const many = Array.from({ length: 255 }, (_, i) => ({ name: `host${i + 1}`, site: `s${i}` }));
  assert.match(bridgedProblem(many) ?? '', /at most 254 sites/);
  assert.throws(() => planNet('ab01', [{ name: 'host1', site: 'host1' }]), /also a host name/);
});

test('agent arguments name the host namespace, br0 and the site segment', () => {
  const p = planNet('ab01', hosts);
  assert.deepEqual(agentNetArgs(p.hosts[2]!, p.sites[1]!), [
    '--guest-netns', 'ferry-ab01-host3',
    '--guest-bridge', 'br0',
    '--guest-segment', 'dr',
    '--guest-subnet', '10.77.2.0/24',
    '--guest-gateway', '10.77.2.1',
  ]);
});

test('ip netns list output with and without ids', () => {
  assert.deepEqual(parseNetnsList('ferry-ab01-host1 (id: 3)\nferry-ab01-main\n\n'), ['ferry-ab01-host1', 'ferry-ab01-main']);
  assert.deepEqual(parseNetnsList(''), []);
});

test('--net is user or bridged', () => {
  assert.equal(parseNetMode('bridged'), 'bridged');
  assert.equal(parseNetMode('user'), 'user');
  assert.throws(() => parseNetMode('tap'), InvalidArgumentError);
});
