// Public surface of the agent: run one on this host, and find the QEMU processes and the fence
// guard a data dir owns (for `ferry down`). Everything else in src/agent is internal.
//
// The agent never stops VMs when it stops: close() (and even SIGKILL) leaves every QEMU
// running; the next agent on the same data dir re-attaches to them (reattach.ts).
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildAgentApi } from './api.js';
import { AllowedPaths } from './allowed-paths.js';
import { startHeartbeat, type Heartbeat } from './heartbeat.js';
import { resolveAccel, type AccelChoice } from './kvm-probe.js';
import { log } from './log.js';
import { VmManager } from './manager.js';
import { hostInfo, qemuVersion, vmStatus } from './metrics.js';
import { DEFAULT_NET_CAPACITY_BYTES_PER_SEC } from './host-stats.js';
import { AgentMetrics } from './prometheus.js';
import { Sampler } from './sampler.js';
import { isOurQemu } from './proc.js';
import { reattachAll } from './reattach.js';
import { MigrationService } from './migration/service.js';
import { DrService } from './dr/service.js';
import { FenceFeeder } from './fencing.js';
import { loadIdentity, type TlsIdentity } from './data-plane/tls-identity.js';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { advertisedHost, advertisedUrl } from '../contracts/addresses.js';
import { httpsServerOptions } from '../pki/index.js';
import { HostIdentity } from './host-identity.js';
import { joinCluster } from './join.js';
import { WirePlane } from './data-plane/wire-plane.js';
import type { GuardReport, HostInfo } from '../contracts/index.js';
import { FERRY_VERSION } from '../contracts/version.js';
import { GuestTaps, type GuestBridge } from './guest-taps.js';
import { listVmNames, loadRecord, readPidFile, vmPaths, writeJsonAtomic } from './vm-dir.js';

export interface AgentOptions {
  name: string;
  site: string;
  dataDir: string;
  /** Address the API and the data plane listen on. Default 127.0.0.1. */
  listenHost?: string;
  /** Default 0: any free port (see RunningAgent.url). */
  port?: number;
  /** The host (name or address) the controller and peer agents dial; default the listen address. */
  advertise?: string;
  /** Where to send heartbeats; omitted = none (tests). Every controller's URL when there are several (one leads; heartbeats follow it). */
  controllerUrl?: string | readonly string[];
  /**
   * A one-time join token (`ferry host token`): used only when this data dir holds no identity
   * yet, to enrol with the controller at `controllerUrl` (join.ts).
   */
  joinToken?: string;
  /** Default 'auto': probe KVM (cached per host boot), fall back to TCG. */
  accel?: AccelChoice;
  /** Demo guest dir (vmlinuz, initrd.img). Default $FERRY_GUEST_DIR or <repo>/build/guest. */
  guestDir?: string;
  /**
   * Directories whose files VM specs may name (kernel, initrd, disk base images), realpath-checked.
   * Default: <dataDir>/images and the demo guest dir (allowed-paths.ts).
   */
  imageDirs?: string[];
  /** Default 1000. */
  heartbeatIntervalMs?: number;
  /** Port of the ferry-wire data endpoint on listenHost. Default 0: any free port. */
  dataPort?: number;
  /** The host's key and certificates (tests); otherwise <dataDir>/tls, from joining. */
  tls?: TlsIdentity;
  /** Capacity of the host's network link in bytes/s (reported, not enforced). Default 125000000 (1 Gbit/s). */
  netBytesPerSec?: number;
  /** The guest bridge for bridged NICs (docs/networking.md); without it such VMs cannot run here. */
  guestBridge?: GuestBridge;
}

export interface RunningAgent {
  url: string;
  /** Stops the API and heartbeats; never stops VMs. Idempotent. */
  close(): Promise<void>;
}

export { parseNetCapacity } from './host-stats.js';
/** The pid of the host's fence guard, if one runs for this data dir (`ferry down` stops it). */
export { guardPid as findGuardPid } from './fence/spawn.js';

/** <repo>/build/guest, found by walking up from this module (dist/src/agent or src/agent) to package.json. */
export function defaultGuestDir(): string {
  if (process.env.FERRY_GUEST_DIR) return process.env.FERRY_GUEST_DIR;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'src'))) return join(dir, 'build', 'guest');
    dir = dirname(dir);
  }
  return resolve('build', 'guest');
}

/** Where VM specs may name files when no --image-dir is given: this host's own images and the demo guest. */
export function defaultImageDirs(dataDir: string, guestDir: string): string[] {
  return [join(dataDir, 'images'), guestDir];
}

export async function runAgent(opts: AgentOptions): Promise<RunningAgent> {
  const dataDir = resolve(opts.dataDir);
  mkdirSync(join(dataDir, 'vms'), { recursive: true });
  const guestDir = opts.guestDir ?? defaultGuestDir();
  const [accel, version] = await Promise.all([resolveAccel(opts.accel ?? 'auto', guestDir), qemuVersion()]);
  const taps = opts.guestBridge ? new GuestTaps(opts.guestBridge) : undefined;
  const listenHost = opts.listenHost ?? '127.0.0.1';
  // Forwards listen where the agent does, so a controller on another machine reaches them.
  const forwards = { bind: listenHost === '::' ? '0.0.0.0' : listenHost, shown: advertisedHost(listenHost, opts.advertise) };
  const launch = { accel, guestDir, ...(taps ? { taps } : {}), forwards };
  const mgr = new VmManager(dataDir, launch);
  const recovered = await reattachAll(dataDir, mgr);
  await taps?.adopt(mgr.vms.values());
  taps?.start();

  const identity = new HostIdentity(opts.name, await hostIdentity(opts, dataDir), opts.tls ? undefined : dataDir);
  const plane = new WirePlane(listenHost, opts.dataPort ?? 0, undefined, advertisedHost(listenHost, opts.advertise));
  await plane.setIdentity(identity.current);
  const migrationCtx = { hostName: opts.name, dataDir, mgr, launch, plane };
  const migrations = new MigrationService(migrationCtx, recovered);
  const dr = new DrService(migrationCtx);

  let url = '';
  const paths = new AllowedPaths(opts.imageDirs ?? defaultImageDirs(dataDir, guestDir));
  const host = (): HostInfo => {
    const dataUrl = plane.url();
    const netBytesPerSec = opts.netBytesPerSec ?? DEFAULT_NET_CAPACITY_BYTES_PER_SEC;
    const g = opts.guestBridge;
    const guestNetwork = g ? { segment: g.segment, subnet: g.subnet, ...(g.gateway ? { gateway: g.gateway } : {}), ...(g.netns ? { netns: g.netns } : {}) } : undefined;
    return {
      ...hostInfo({ name: opts.name, site: opts.site, url, accel, qemuVersion: version, agentVersion: FERRY_VERSION, netBytesPerSec }),
      ...(dataUrl ? { dataUrl } : {}),
      ...(guestNetwork ? { guestNetwork } : {}),
      imageDirs: [...paths.dirs],
    };
  };
  const sampler = new Sampler(() => mgr.vms.values()).start();
  const metrics = new AgentMetrics(async () => ({ host: host(), vms: await mgr.list() }));
  const app = buildAgentApi(mgr, httpsServerOptions(identity.current, true), host, () => migrations, () => dr, metrics, paths);
  await app.listen({ host: listenHost, port: opts.port ?? 0 });
  url = advertisedUrl(listenHost, (app.server.address() as AddressInfo).port, opts.advertise);
  identity.onChange(async (id) => {
    (app.server as unknown as HttpsServer).setSecureContext(httpsServerOptions(id, true));
    await plane.setIdentity(id);
  });
  writeJsonAtomic(join(dataDir, 'agent.json'), { pid: process.pid, url });
  log('agent %s (%s) listening on %s, accel %s, guest %s', opts.name, opts.site, url, accel, guestDir);

  let hb: Heartbeat | undefined;
  const fence = opts.controllerUrl ? new FenceFeeder(mgr, { dataDir, host: opts.name, listenHost }) : undefined;
  if (opts.controllerUrl) {
    const dispatcher = () => identity.dispatcher({ role: 'controller' });
    hb = startHeartbeat(opts.controllerUrl, dispatcher, opts.heartbeatIntervalMs ?? 1000, async () => {
      const csr = await identity.renewalCsr();
      return {
        host: host(),
        vms: await Promise.all([...mgr.vms.values()].map((vm) => vmStatus(vm))),
        ...(csr ? { csr } : {}),
        ...withGuard(fence?.report()),
      };
    }, async (reply) => {
      fence?.renew(reply);
      if (reply.certificate) await identity.accept(reply.certificate);
    });
  }

  let closing: Promise<void> | undefined;
  return {
    url,
    close() {
      closing ??= (async () => {
        hb?.stop();
        await sampler.close();
        await taps?.close();
        await app.close();
        await migrations.close();
        await dr.close();
        await plane.close();
        await identity.close();
        mgr.detachAll();
        // Leave agent.json to a newer agent that may already own this data dir.
        if (readAgentFile(dataDir)?.pid === process.pid) rmSync(join(dataDir, 'agent.json'), { force: true });
      })();
      return closing;
    },
  };
}

const withGuard = (guard: GuardReport | undefined): { guard?: GuardReport } => (guard ? { guard } : {});

/** The host's identity: given (tests), stored from an earlier join, or from joining now with the token. */
async function hostIdentity(opts: AgentOptions, dataDir: string): Promise<TlsIdentity> {
  if (opts.tls) return opts.tls;
  const stored = loadIdentity(dataDir);
  if (stored) return stored;
  const urls = typeof opts.controllerUrl === 'string' ? [opts.controllerUrl] : [...(opts.controllerUrl ?? [])];
  if (!opts.joinToken || urls.length === 0) {
    throw new Error(`host ${opts.name} has not joined a cluster (no identity in ${dataDir}/tls): start it with --join CONTROLLER_URL --token TOKEN (ferry host token prints one)`);
  }
  const id = await joinCluster(urls, opts.joinToken, opts.name, dataDir);
  log('host %s joined the cluster at %s', opts.name, urls.join(','));
  return id;
}

/** PIDs of live QEMU processes started for VMs in `dataDir` (checked against each VM's uuid). */
export function findQemuPids(dataDir: string): number[] {
  const pids: number[] = [];
  for (const name of listVmNames(dataDir)) {
    const rec = loadRecord(dataDir, name);
    if (!rec) continue;
    for (const pid of new Set([readPidFile(vmPaths(dataDir, name).pidFile), rec.pid])) {
      if (isOurQemu(pid, rec.spec.uuid) && !pids.includes(pid)) pids.push(pid);
    }
  }
  return pids;
}

/** The {pid, url} an agent wrote to its data dir when it started, if any. */
function readAgentFile(dataDir: string): { pid: number; url: string } | undefined {
  try {
    return JSON.parse(readFileSync(join(dataDir, 'agent.json'), 'utf8')) as { pid: number; url: string };
  } catch {
    return undefined;
  }
}
