// The planner's input: a snapshot of hosts and VMs, and the migration history it learns costs
// and cooldowns from. Plain data, built by the balancer service (snapshot.ts) or a simulator.
import type { Utilisation } from '../../contracts/balance.js';

export interface BalanceHost {
  name: string;
  up: boolean;
  cpus: number;
  memoryMiB: number;
  netBytesPerSec: number;
  /** Utilisation samples, oldest first. */
  samples: Utilisation[];
  /** The segment of the host's guest bridge, if it has one. */
  segment?: string;
}

export interface BalanceVm {
  name: string;
  host: string;
  memoryMiB: number;
  vcpus: number;
  /** Current load: cores busy, network bytes/s, resident memory. */
  cpuCores: number;
  netBytesPerSec: number;
  residentMiB: number;
  dirtyBytesPerSec: number;
  /** A bridged VM moves only to hosts on this segment (it keeps its address). */
  segment?: string;
}

export interface PastMigration {
  vm: string;
  /** When it was moved (start of the migration). */
  atMs: number;
  succeeded: boolean;
  wireBytes: number;
  totalMs: number;
}

export interface BalanceSnapshot {
  hosts: BalanceHost[];
  vms: BalanceVm[];
}

export interface BalanceHistory {
  nowMs: number;
  migrations: PastMigration[];
}

export const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
