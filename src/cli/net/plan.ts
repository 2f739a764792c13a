// Pure planning of a bridged cluster's guest network (`ferry up --net bridged`): names,
// subnets and the agents' extra arguments. Nothing here touches the system.
//
//   ferry-<id>-<site>   br-site 10.77.<i>.1/24   ports p-<host>…   (switch + gateway, clients)
//   ferry-<id>-<host>   eth0 (veth ↔ p-<host>) enslaved to br0    (the agent puts guest taps on br0)
import { randomBytes } from 'node:crypto';
import { InvalidArgumentError } from 'commander';
import type { HostNetRecord, SiteNetRecord } from '../config.js';

export const SITE_BRIDGE = 'br-site';
export const HOST_BRIDGE = 'br0';
/** The veth end inside each host namespace. */
export const HOST_UPLINK = 'eth0';
/** What the agent accepts as --guest-segment. */
export const SEGMENT_RE = /^[a-z][a-z0-9-]{0,31}$/;
export const NET_ID_RE = /^[0-9a-f]{4}$/;
/** Linux interface names are at most 15 bytes (IFNAMSIZ - 1). */
export const IFNAME_MAX = 15;
/** One /24 per site out of 10.77.0.0/16, numbered from 1. */
export const MAX_SITES = 254;

export interface NetPlan {
  id: string;
  sites: SiteNetRecord[];
  hosts: HostNetRecord[];
}

export function newNetId(random: (n: number) => Buffer = randomBytes): string {
  return random(2).toString('hex');
}

/** A fresh id no existing namespace uses (ids are random, so this almost never loops). */
export function freeNetId(existingNetns: string[], random: (n: number) => Buffer = randomBytes): string {
  for (let i = 0; i < 100; i++) {
    const id = newNetId(random);
    if (!existingNetns.some((n) => n.startsWith(netnsPrefix(id)))) return id;
  }
  throw new Error('no free cluster net id (too many ferry-* namespaces?)');
}

export function netnsName(id: string, name: string): string {
  return `ferry-${id}-${name}`;
}

/** Every namespace of cluster net `id` starts with this. */
export function netnsPrefix(id: string): string {
  return `ferry-${id}-`;
}

/** `p-<host>` on the site bridge, or `p<index>` (1-based host index) when that is too long. */
export function portName(host: string, index: number): string {
  const p = `p-${host}`;
  return p.length <= IFNAME_MAX ? p : `p${index}`;
}

export function siteSubnet(i: number): { subnet: string; gateway: string } {
  return { subnet: `10.77.${i}.0/24`, gateway: `10.77.${i}.1` };
}

/** Why these hosts cannot get a bridged network, or undefined if they can. */
export function bridgedProblem(hosts: { name: string; site: string }[]): string | undefined {
  const sites = [...new Set(hosts.map((h) => h.site))];
  const bad = sites.find((s) => !SEGMENT_RE.test(s));
  if (bad) return `site name '${bad}' cannot be a network segment with --net bridged (use at most 32 characters: lower-case letters, digits and '-', starting with a letter)`;
  if (sites.length > MAX_SITES) return `--net bridged supports at most ${MAX_SITES} sites (one 10.77.<i>.0/24 each), not ${sites.length}`;
  // Site and host namespaces share the prefix ferry-<id>-, so a site named like a host would collide.
  const clash = sites.find((s) => hosts.some((h) => h.name === s));
  if (clash) return `site name '${clash}' is also a host name; with --net bridged their namespaces would collide (rename the site)`;
  return undefined;
}

/** Sites in the order they first appear (the order of --sites), subnets numbered from 1. */
export function planNet(id: string, hosts: { name: string; site: string }[]): NetPlan {
  if (!NET_ID_RE.test(id)) throw new Error(`bad cluster net id ${id}`);
  const problem = bridgedProblem(hosts);
  if (problem) throw new Error(problem);
  const sites: SiteNetRecord[] = [];
  for (const h of hosts) {
    if (sites.some((s) => s.site === h.site)) continue;
    sites.push({ site: h.site, netns: netnsName(id, h.site), ...siteSubnet(sites.length + 1) });
  }
  return {
    id,
    sites,
    hosts: hosts.map((h, i) => ({ host: h.name, site: h.site, netns: netnsName(id, h.name), port: portName(h.name, i + 1) })),
  };
}

/** The arguments `ferry agent` gets for its host's guest network. */
export function agentNetArgs(host: HostNetRecord, site: SiteNetRecord): string[] {
  return ['--guest-netns', host.netns, '--guest-bridge', HOST_BRIDGE, '--guest-segment', site.site, '--guest-subnet', site.subnet, '--guest-gateway', site.gateway];
}

/** `ip netns list` output (`name` or `name (id: 3)` per line) → names. */
export function parseNetnsList(out: string): string[] {
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n.length > 0);
}

export type NetMode = 'user' | 'bridged';
export function parseNetMode(value: string): NetMode {
  if (value !== 'user' && value !== 'bridged') throw new InvalidArgumentError('must be user or bridged');
  return value;
}
