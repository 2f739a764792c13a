// Where the CLI finds its cluster: FERRY_URL/FERRY_TOKEN (and FERRY_CA, a PEM file) from the
// environment win, otherwise the cluster.json that `ferry up` wrote in the cluster home
// ($FERRY_HOME or ~/.ferry), which holds the cluster CA the CLI pins.
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../contracts/http-client.js';
import { httpsDispatcher } from '../pki/index.js';
import type { IsolatedNet } from './net/isolated.js';
import { UsageError } from './output.js';

export interface AgentRecord {
  name: string;
  site: string;
  pid: number;
  dataDir: string;
  /** The exact arguments (after bin/ferry.js) the agent was started with; `ferry up` reuses them. */
  args?: string[];
  log?: string;
  /** `ferry up --isolated`: the network namespace it runs in (restarts go there too). */
  netns?: string;
}

/** One site's switch: namespace `ferry-<id>-<site>` with bridge br-site holding `gateway`. */
export interface SiteNetRecord {
  site: string;
  netns: string;
  /** e.g. 10.77.1.0/24 */
  subnet: string;
  /** e.g. 10.77.1.1 (on br-site) */
  gateway: string;
}

/** One host's namespace: eth0 (veth to `port` on its site's br-site) enslaved to br0. */
export interface HostNetRecord {
  host: string;
  site: string;
  netns: string;
  /** The veth end on the site bridge, e.g. p-host1. */
  port: string;
}

/**
 * Bridged guest networking of a `ferry up --net bridged` cluster. Namespaces are appended as
 * they are created, so `ferry down` (or a failed `ferry up`) deletes exactly what exists.
 */
export interface ClusterNet {
  mode: 'bridged';
  /** Short random id in every namespace name, so two clusters on one machine never collide. */
  id: string;
  sites: SiteNetRecord[];
  hosts: HostNetRecord[];
}

/** The file `ferry up` writes (mode 0600) and `ferry down` removes. */
export interface ClusterFile {
  url: string;
  token: string;
  /** The cluster CA (PEM) the CLI pins for the controller's HTTPS. */
  ca?: string;
  controller: { pid: number; dataDir?: string; log?: string; netns?: string };
  agents: AgentRecord[];
  /** Absent: user-mode (slirp) guest networking, as before --net existed. */
  net?: ClusterNet;
  /** `ferry up --isolated`: every component in its own namespace on a management bridge (src/cli/net/isolated.ts). */
  isolated?: IsolatedNet;
  /** `ferry up --controllers N --db postgres`: every controller, the first being `controller` (one leads at a time). */
  controllers?: ControllerRecord[];
  /** `--db postgres`: the PostgreSQL server `ferry up` started and `ferry down` stops. */
  postgres?: { pid: number; dir: string; url: string; log: string };
}

export interface ControllerRecord {
  url: string;
  pid: number;
  dataDir: string;
  log: string;
}

export interface Connection {
  url: string;
  token: string;
  /** The cluster CA (PEM): $FERRY_CA (a file) or cluster.json's. */
  ca?: string;
  source: 'env' | 'cluster.json';
}

export function ferryHome(env: NodeJS.ProcessEnv = process.env): string {
  const h = env.FERRY_HOME;
  return h && h.length > 0 ? h : join(homedir(), '.ferry');
}

export function clusterFilePath(home: string): string {
  return join(home, 'cluster.json');
}

export function readClusterFile(home: string): ClusterFile | undefined {
  const p = clusterFilePath(home);
  if (!existsSync(p)) return undefined;
  const parsed = JSON.parse(readFileSync(p, 'utf8')) as ClusterFile;
  if (typeof parsed.url !== 'string' || typeof parsed.token !== 'string' || !Array.isArray(parsed.agents)) {
    throw new Error(`${p} is not a cluster file`);
  }
  return parsed;
}

export const NO_CLUSTER = 'no cluster found (run ferry up, or set FERRY_URL and FERRY_TOKEN)';

/** Pure: pick the connection from the environment and the (optional) cluster file. */
export function resolveConnection(env: NodeJS.ProcessEnv, cluster: ClusterFile | undefined, readCa: (path: string) => string = readCaFile): Connection | undefined {
  const url = env.FERRY_URL || undefined;
  const token = env.FERRY_TOKEN || undefined;
  const envCa = env.FERRY_CA ? readCa(env.FERRY_CA) : undefined;
  const ca = envCa ?? cluster?.ca;
  const withCa = ca ? { ca } : {};
  if (url && token) return { url, token, ...withCa, source: 'env' };
  if (cluster) return { url: url ?? cluster.url, token: token ?? cluster.token, ...withCa, source: url || token ? 'env' : 'cluster.json' };
  return undefined;
}

function readCaFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`FERRY_CA: cannot read ${path}: ${(err as Error).message}`, 1);
  }
}

/**
 * The controller is reached over HTTPS only, with the cluster CA pinned and a controller's
 * certificate required. Without a CA (FERRY_URL and FERRY_TOKEN but no FERRY_CA) the system's
 * trust store decides, for a controller with a certificate of its own (docs/security.md).
 */
export function controllerClient(urls: string[], token: string, ca: string | undefined, opts: { followMs?: number } = {}): ApiClient {
  for (const u of urls) if (!u.startsWith('https://')) throw new UsageError(`${u}: the controller is reached over https:// only`, 1);
  const dispatcher = ca ? httpsDispatcher({ caPem: ca }, { role: 'controller' }) : undefined;
  return new ApiClient(urls, token, { ...opts, ...(dispatcher ? { dispatcher: () => dispatcher } : {}) });
}

/** How long a command keeps looking for the leader while several controllers elect a new one. */
export const FOLLOW_LEADER_MS = 20_000;

/** FERRY_URL may name several controllers (URL,URL,...); so may cluster.json (`controllers`). The client follows the leader. */
export function connect(env: NodeJS.ProcessEnv = process.env): ApiClient {
  const cluster = readClusterFile(ferryHome(env));
  const conn = resolveConnection(env, cluster);
  if (!conn) throw new UsageError(NO_CLUSTER, 1);
  return controllerClient(controllerUrls(conn, cluster), conn.token, conn.ca, { followMs: FOLLOW_LEADER_MS });
}

export function controllerUrls(conn: Connection, cluster: ClusterFile | undefined): string[] {
  const urls = conn.url.split(',').filter((u) => u.length > 0);
  if (conn.source === 'cluster.json' && cluster?.controllers) return [...new Set([...urls, ...cluster.controllers.map((c) => c.url)])];
  return urls;
}

/** Written atomically with mode 0600: it holds the admin token. */
export function writeClusterFile(home: string, c: ClusterFile): void {
  const p = clusterFilePath(home);
  const tmp = `${p}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(c, null, 2) + '\n', { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, p);
}
