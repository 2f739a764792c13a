// Creates and deletes the namespaces of a bridged cluster (see plan.ts for the layout) with
// iproute2, one execFile per step (never a shell string). Every interface lives inside a
// namespace created here, so nothing is added to the root namespace; deleting a namespace
// deletes its veths, bridges and any tap the agent put on br0.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { ClusterNet } from '../config.js';
import { HOST_BRIDGE, HOST_UPLINK, SITE_BRIDGE, netnsPrefix, parseNetnsList, type NetPlan } from './plan.js';

const run = promisify(execFile);

export async function ip(...args: string[]): Promise<string> {
  try {
    return (await run('ip', args)).stdout;
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`ip ${args.join(' ')}: ${(e.stderr || e.message).trim()}`, { cause: err });
  }
}

/** Why bridged networking cannot be set up here, or undefined if it can. */
export async function netnsSupport(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return '--net bridged needs root (it creates network namespaces, bridges and veths)';
  try {
    await run('ip', ['netns', 'list']);
    return undefined;
  } catch (err) {
    return `--net bridged needs iproute2 with 'ip netns': ${(err as Error).message.split('\n')[0]}`;
  }
}

export async function listNetns(): Promise<string[]> {
  return parseNetnsList(await ip('netns', 'list'));
}

/** Recorded namespaces that do not exist (any more). */
export async function missingNetns(net: ClusterNet): Promise<string[]> {
  const have = new Set(await listNetns());
  return [...net.sites, ...net.hosts].map((r) => r.netns).filter((n) => !have.has(n));
}

/**
 * Build `plan`, appending each namespace to `net` right after it exists and calling `save`,
 * so that a failure part-way leaves a record of exactly what to delete.
 */
export async function createTopology(plan: NetPlan, net: ClusterNet, save: () => void): Promise<void> {
  for (const s of plan.sites) {
    await ip('netns', 'add', s.netns);
    net.sites.push(s);
    save();
    await ip('-n', s.netns, 'link', 'set', 'lo', 'up');
    // STP off and no forwarding delay: a port (and the MAC of a migrated guest) forwards at once.
    await ip('-n', s.netns, 'link', 'add', SITE_BRIDGE, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0');
    await ip('-n', s.netns, 'addr', 'add', `${s.gateway}/${s.subnet.split('/')[1]}`, 'dev', SITE_BRIDGE);
    await ip('-n', s.netns, 'link', 'set', SITE_BRIDGE, 'up');
  }
  for (const h of plan.hosts) {
    const site = plan.sites.find((s) => s.site === h.site);
    if (!site) throw new Error(`host ${h.host}: site ${h.site} is not in the plan`);
    await ip('netns', 'add', h.netns);
    net.hosts.push(h);
    save();
    await ip('-n', h.netns, 'link', 'set', 'lo', 'up');
    // Both ends are born in their namespaces, so no veth ever appears in the root namespace.
    await ip('-n', h.netns, 'link', 'add', HOST_UPLINK, 'type', 'veth', 'peer', 'name', h.port, 'netns', site.netns);
    await ip('-n', site.netns, 'link', 'set', h.port, 'master', SITE_BRIDGE, 'up');
    await ip('-n', h.netns, 'link', 'add', HOST_BRIDGE, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0');
    await ip('-n', h.netns, 'link', 'set', HOST_UPLINK, 'master', HOST_BRIDGE, 'up');
    await ip('-n', h.netns, 'link', 'set', HOST_BRIDGE, 'up');
  }
}

export interface NetTeardown {
  deleted: string[];
  /** Recorded but already gone. */
  missing: string[];
  /** Not deleted: processes still run inside (deleting would only hide the namespace, not free it). */
  busy: { netns: string; pids: number[] }[];
  failed: { netns: string; error: string }[];
  /** Ours and still there after the teardown: namespaces named ferry-<id>-*, root-namespace links named like our ports. */
  leftovers: string[];
}

/** Delete host namespaces, then site namespaces; idempotent. Never throws for one namespace. */
export async function deleteTopology(net: ClusterNet): Promise<NetTeardown> {
  const r: NetTeardown = { deleted: [], missing: [], busy: [], failed: [], leftovers: [] };
  const have = new Set(await listNetns());
  for (const netns of [...net.hosts, ...net.sites].map((x) => x.netns)) {
    if (!have.has(netns)) {
      r.missing.push(netns);
      continue;
    }
    try {
      const pids = (await ip('netns', 'pids', netns)).split(/\s+/).filter((p) => p.length > 0).map(Number);
      if (pids.length > 0) {
        r.busy.push({ netns, pids });
        continue;
      }
      await ip('netns', 'delete', netns);
      r.deleted.push(netns);
    } catch (err) {
      r.failed.push({ netns, error: (err as Error).message });
    }
  }
  r.leftovers = await leftovers(net, new Set([...r.busy, ...r.failed].map((x) => x.netns)));
  return r;
}

/** What of ours is still there, apart from the namespaces `known` (already reported). */
async function leftovers(net: ClusterNet, known: Set<string>): Promise<string[]> {
  const out: string[] = [];
  try {
    const ours = (await listNetns()).filter((n) => n.startsWith(netnsPrefix(net.id)) && !known.has(n));
    out.push(...ours.map((n) => `namespace ${n}`));
  } catch (err) {
    out.push(`(could not list namespaces: ${(err as Error).message})`);
  }
  try {
    const ports = new Set(net.hosts.map((h) => h.port));
    const links = JSON.parse(await ip('-j', 'link', 'show')) as { ifname: string }[];
    out.push(...links.filter((l) => ports.has(l.ifname)).map((l) => `link ${l.ifname} in the root namespace`));
  } catch (err) {
    out.push(`(could not list root-namespace links: ${(err as Error).message})`);
  }
  return out;
}

/** One line per problem, for error messages; empty when the teardown was clean. */
export function teardownProblems(t: NetTeardown): string[] {
  return [
    ...t.busy.map((b) => `namespace ${b.netns} still holds processes ${b.pids.join(', ')}`),
    ...t.failed.map((f) => `namespace ${f.netns}: ${f.error}`),
    ...t.leftovers.map((l) => `left: ${l}`),
  ];
}
