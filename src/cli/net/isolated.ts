// `ferry up --isolated`: the controller and every agent each in a network namespace of its own,
// with its own address on a management bridge, as if on separate machines. Layout (id = the
// cluster's random net id):
//   ferry-<id>-mgmt      bridge br-mgmt, the ports of every member, and `up0`, the peer of the
//                        root namespace's veth fm-<id> (the CLI reaches the controller over it)
//   ferry-<id>-<member>  eth0 (veth to br-mgmt) with the member's address, lo
// Nothing shares a loopback; every control-plane URL is https:// at a bridge address. Deleting
// the namespaces deletes every veth (the root end goes with its peer).
import { ip } from './topology.js';
import { netnsName } from './plan.js';

export const MGMT_BRIDGE = 'br-mgmt';

export interface IsolatedMember {
  name: string;
  netns: string;
  address: string;
}

/** Recorded in cluster.json as `isolated`; namespaces are appended as they are made. */
export interface IsolatedNet {
  id: string;
  /** e.g. 10.78.23.0/24 */
  subnet: string;
  /** The root namespace's address on the bridge (its veth fm-<id>). */
  rootAddress: string;
  rootVeth: string;
  mgmtNetns: string;
  namespaces: string[];
  members: IsolatedMember[];
}

/** The plan: the controller at .2, hosts from .10 on, in a /24 picked from the id. */
export function planIsolated(id: string, hosts: readonly string[]): Omit<IsolatedNet, 'namespaces'> {
  const k = (parseInt(id, 16) % 250) + 1;
  const base = `10.78.${k}`;
  if (hosts.length > 240) throw new Error('--isolated takes at most 240 hosts');
  return {
    id,
    subnet: `${base}.0/24`,
    rootAddress: `${base}.1`,
    rootVeth: `fm-${id}`,
    mgmtNetns: netnsName(id, 'mgmt'),
    members: [{ name: 'controller', netns: netnsName(id, 'ctl'), address: `${base}.2` }, ...hosts.map((h, i) => ({ name: h, netns: netnsName(id, h), address: `${base}.${10 + i}` }))],
  };
}

export function memberOf(net: IsolatedNet, name: string): IsolatedMember {
  const m = net.members.find((x) => x.name === name);
  if (!m) throw new Error(`${name} is not in the isolated network`);
  return m;
}

async function newNetns(net: IsolatedNet, name: string, save: () => void): Promise<void> {
  await ip('netns', 'add', name);
  net.namespaces.push(name);
  save();
  await ip('-n', name, 'link', 'set', 'lo', 'up');
}

/** Builds the network; `net` (recorded by `save`) always names what exists, for `ferry down`. */
export async function createIsolated(net: IsolatedNet, save: () => void): Promise<void> {
  await newNetns(net, net.mgmtNetns, save);
  await ip('-n', net.mgmtNetns, 'link', 'add', MGMT_BRIDGE, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0');
  await ip('-n', net.mgmtNetns, 'link', 'set', MGMT_BRIDGE, 'up');
  await ip('link', 'add', net.rootVeth, 'type', 'veth', 'peer', 'name', 'up0', 'netns', net.mgmtNetns);
  await ip('addr', 'add', `${net.rootAddress}/24`, 'dev', net.rootVeth);
  await ip('link', 'set', net.rootVeth, 'up');
  await ip('-n', net.mgmtNetns, 'link', 'set', 'up0', 'master', MGMT_BRIDGE, 'up');
  for (const [i, m] of net.members.entries()) {
    await newNetns(net, m.netns, save);
    const port = `p${i}`;
    await ip('-n', net.mgmtNetns, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', m.netns);
    await ip('-n', net.mgmtNetns, 'link', 'set', port, 'master', MGMT_BRIDGE, 'up');
    await ip('-n', m.netns, 'addr', 'add', `${m.address}/24`, 'dev', 'eth0');
    await ip('-n', m.netns, 'link', 'set', 'eth0', 'up');
  }
}

/** Deletes every recorded namespace (members first); returns what could not be deleted. */
export async function deleteIsolated(net: IsolatedNet): Promise<string[]> {
  const failed: string[] = [];
  for (const ns of [...net.namespaces].reverse()) {
    try {
      await ip('netns', 'delete', ns);
    } catch (err) {
      if (!/No such file|not found|Cannot remove/i.test((err as Error).message) || /busy/i.test((err as Error).message)) failed.push(`${ns}: ${(err as Error).message}`);
    }
  }
  // The root end goes with its peer; in case the peer never moved, remove it too.
  await ip('link', 'delete', net.rootVeth).catch(() => undefined);
  return failed;
}
