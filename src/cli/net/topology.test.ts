// Builds a real 2-site / 3-host topology when root and `ip netns` are available (it only
// sends pings between namespaces it created), then checks that the teardown leaves nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { ClusterNet } from '../config.js';
import { freeNetId, netnsPrefix, planNet, type NetPlan } from './plan.js';
import { createTopology, deleteTopology, ip, listNetns, netnsSupport, teardownProblems, type NetTeardown } from './topology.js';

const run = promisify(execFile);
const skip = (await netnsSupport()) ?? false;
const HOSTS = [
  { name: 'host1', site: 'main' },
  { name: 'host2', site: 'main' },
  { name: 'host3', site: 'dr' },
];

interface Link {
  ifname: string;
  flags: string[];
  master?: string;
  linkinfo?: { info_kind?: string; info_data?: { stp_state?: number; forward_delay?: number } };
}

async function links(netns: string): Promise<Map<string, Link>> {
  const all = JSON.parse(await ip('-n', netns, '-j', '-d', 'link', 'show')) as Link[];
  return new Map(all.map((l) => [l.ifname, l]));
}

async function pings(netns: string, addr: string, tries = 3): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    try {
      await run('ip', ['netns', 'exec', netns, 'ping', '-c', '1', '-W', '1', addr]);
      return true;
    } catch {
      // the veth may still be coming up, or the address is (rightly) unreachable
    }
  }
  return false;
}

function newNet(plan: NetPlan): ClusterNet {
  return { mode: 'bridged', id: plan.id, sites: [], hosts: [] };
}

async function assertGone(net: ClusterNet, t: NetTeardown): Promise<void> {
  assert.deepEqual(teardownProblems(t), []);
  assert.deepEqual((await listNetns()).filter((n) => n.startsWith(netnsPrefix(net.id))), []);
  const again = await deleteTopology(net);
  assert.deepEqual(again.deleted, []);
  assert.equal(again.missing.length, net.sites.length + net.hosts.length);
}

test('2 sites / 3 hosts: bridges and ports exist, a site reaches its hosts only, teardown leaves nothing', { skip }, async () => {
  const plan = planNet(freeNetId(await listNetns()), HOSTS);
  const net = newNet(plan);
  let saves = 0;
  try {
    await createTopology(plan, net, () => saves++);
    assert.equal(saves, 5);
    assert.deepEqual(net.sites, plan.sites);
    assert.deepEqual(net.hosts, plan.hosts);
    for (const s of plan.sites) {
      const l = await links(s.netns);
      const br = l.get('br-site');
      assert.equal(br?.linkinfo?.info_kind, 'bridge');
      assert.equal(br?.linkinfo?.info_data?.stp_state, 0);
      assert.equal(br?.linkinfo?.info_data?.forward_delay, 0);
      assert.ok(br?.flags.includes('UP') && l.get('lo')?.flags.includes('UP'));
      for (const h of plan.hosts.filter((x) => x.site === s.site)) {
        assert.equal(l.get(h.port)?.master, 'br-site', `${h.port} on br-site in ${s.netns}`);
        assert.ok(l.get(h.port)?.flags.includes('UP'));
      }
      const addrs = JSON.parse(await ip('-n', s.netns, '-j', 'addr', 'show', 'dev', 'br-site')) as { addr_info: { local: string; prefixlen: number }[] }[];
      assert.ok(addrs[0]?.addr_info.some((a) => `${a.local}/${a.prefixlen}` === `${s.gateway}/24`));
    }
    for (const h of plan.hosts) {
      const l = await links(h.netns);
      assert.equal(l.get('br0')?.linkinfo?.info_kind, 'bridge');
      assert.equal(l.get('eth0')?.master, 'br0');
      assert.ok(l.get('eth0')?.flags.includes('UP') && l.get('br0')?.flags.includes('UP') && l.get('lo')?.flags.includes('UP'));
    }
    // Temporary addresses on br0 stand in for guests: host2 is on main's segment, host3 (dr) is not.
    await ip('-n', plan.hosts[1]!.netns, 'addr', 'add', '10.77.1.2/24', 'dev', 'br0');
    await ip('-n', plan.hosts[2]!.netns, 'addr', 'add', '10.77.1.3/24', 'dev', 'br0');
    assert.ok(await pings(plan.sites[0]!.netns, '10.77.1.2'), 'site main reaches host2 through br-site and br0');
    assert.equal(await pings(plan.sites[0]!.netns, '10.77.1.3', 1), false, 'site main does not reach a host of site dr');
  } finally {
    await assertGone(net, await deleteTopology(net));
  }
});

test('a failure part-way leaves a record of exactly what to delete', { skip }, async () => {
  const plan = planNet(freeNetId(await listNetns()), HOSTS);
  plan.hosts[1]!.port = plan.hosts[0]!.port; // the second veth cannot be named like the first
  const net = newNet(plan);
  await assert.rejects(createTopology(plan, net, () => undefined), /p-host1/);
  assert.deepEqual(
    [...net.sites, ...net.hosts].map((r) => r.netns),
    [plan.sites[0]!.netns, plan.sites[1]!.netns, plan.hosts[0]!.netns, plan.hosts[1]!.netns],
  );
  const t = await deleteTopology(net);
  assert.equal(t.deleted.length, 4);
  await assertGone(net, t);
});

test('teardown problems: busy and failed namespaces and leftovers, one line each', () => {
  const t: NetTeardown = {
    deleted: ['a'],
    missing: ['b'],
    busy: [{ netns: 'ferry-ab01-host1', pids: [12, 13] }],
    failed: [{ netns: 'ferry-ab01-main', error: 'boom' }],
    leftovers: ['link p-host1 in the root namespace'],
  };
  assert.deepEqual(teardownProblems(t), [
    'namespace ferry-ab01-host1 still holds processes 12, 13',
    'namespace ferry-ab01-main: boom',
    'left: link p-host1 in the root namespace',
  ]);
});
