// Pure: the text `ferry net show` prints for a bridged cluster.
import type { ClusterNet } from '../config.js';
import { formatTable } from '../output.js';
import { HOST_BRIDGE, SITE_BRIDGE } from './plan.js';

/** Pure: the text of `ferry net show`; namespaces not in `present` are marked missing. */
export function formatNet(n: ClusterNet, present: Set<string>): string {
  const state = (ns: string): string => (present.has(ns) ? ns : `${ns} (missing)`);
  const sites = formatTable(
    ['SITE', 'SUBNET', 'GATEWAY', 'NAMESPACE', 'HOSTS'],
    n.sites.map((s) => [s.site, s.subnet, s.gateway, state(s.netns), n.hosts.filter((h) => h.site === s.site).map((h) => h.host).join(',')]),
  );
  const hosts = formatTable(
    ['HOST', 'SITE', 'NAMESPACE', 'PORT'],
    n.hosts.map((h) => [h.host, h.site, state(h.netns), h.port]),
  );
  return `Bridged guest network, cluster net ${n.id}: each site namespace holds ${SITE_BRIDGE} (the gateway); each host namespace holds ${HOST_BRIDGE} with eth0 linked to its site's PORT.\n\n${sites}\n\n${hosts}`;
}
