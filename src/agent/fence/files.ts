// The files an agent and its fence guard share, under <dataDir>/fence/:
//   guard.json        {pid, url, host}: the running guard (written by the guard at start)
//   feed.json         Feed: the lease and the cluster's guards (written by the agent, like
//                     petting a watchdog: each heartbeat reply renews it)
//   status.json       GuardStatus: state, contacts, what it fenced (written by the guard each tick)
//   secret            the cluster secret, 0600 (peer pings carry it)
//   guard.log         the guard's stdout and stderr
//   fault-link-down   test hook (only with FERRY_FAULT_HOOKS=1): the guard's network is "cut"
// Times in them are CLOCK_MONOTONIC ms (clock.ts), comparable between the two processes.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GuardPeers, GuardSelf } from '../../contracts/index.js';
import { writeJsonAtomic } from '../vm-dir.js';
import type { GuardState } from './decide.js';

export interface FencePaths {
  dir: string;
  guard: string;
  feed: string;
  status: string;
  secret: string;
  log: string;
  faultLinkDown: string;
}

export function fencePaths(dataDir: string): FencePaths {
  const dir = join(dataDir, 'fence');
  return {
    dir,
    guard: join(dir, 'guard.json'),
    feed: join(dir, 'feed.json'),
    status: join(dir, 'status.json'),
    secret: join(dir, 'secret'),
    log: join(dir, 'guard.log'),
    faultLinkDown: join(dir, 'fault-link-down'),
  };
}

export interface FeedVm {
  name: string;
  uuid: string;
  /** The QEMU pid the agent knows (a hint: the guard also finds QEMUs by uuid). */
  pid?: number;
}

export interface FeedLease {
  /** When the lease ends (monotonic ms): the agent's reading when the reply arrived, + leaseMs. */
  expiresAtMs: number;
  leaseMs: number;
  vms: FeedVm[];
}

/** What the agent feeds its guard with every heartbeat reply. */
export interface Feed {
  host: string;
  lease?: FeedLease;
  cluster?: GuardPeers;
  fedAtMs: number;
}

export interface Contact {
  host: string;
  /** Monotonic ms of the last ping that got through, either way. */
  atMs: number;
  self?: GuardSelf;
}

export interface GuardStatus {
  pid: number;
  host: string;
  url: string;
  state: GuardState;
  writtenAtMs: number;
  contacts: Contact[];
  fenced: { vm: string; uuid: string; atMs: number }[];
}

export interface GuardPidFile {
  pid: number;
  host: string;
  url: string;
}

export function ensureFenceDir(dataDir: string): FencePaths {
  const p = fencePaths(dataDir);
  mkdirSync(p.dir, { recursive: true });
  return p;
}

export function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

export { writeJsonAtomic };
