// Turns QEMU's query-migrate answers into the MigrationProgress the controller polls
// (src/contracts/migration.ts). Pure apart from the object it keeps: percent never runs backwards
// (QEMU's `remaining` grows again at each new round), and completion is the only 100.
// With local disks the mirror's bytes (query-block-jobs offset/len) count in too: they are
// copied first (initial-transfer), so percent = (disk + RAM sent) / (disk + RAM to send).
// streamBytes counts what the NBD connections really carried (unallocated areas of a disk
// cross as tiny write-zeroes requests), plus QEMU's RAM stream.
import type { ConcreteStrategy, MigrationProgress } from '../../contracts/index.js';

/** The part of query-migrate we read (qapi/migration.json MigrationInfo). */
export interface QemuMigrateInfo {
  status?: string;
  'total-time'?: number;
  downtime?: number;
  'error-desc'?: string;
  ram?: {
    transferred?: number;
    remaining?: number;
    total?: number;
    'dirty-pages-rate'?: number;
    'page-size'?: number;
    mbps?: number;
    'dirty-sync-count'?: number;
  };
}

const ACTIVE = new Set(['setup', 'active', 'pre-switchover', 'device', 'wait-unplug', 'postcopy-active', 'cancelling']);

export function isActiveStatus(status: string | undefined): boolean {
  return status !== undefined && ACTIVE.has(status);
}

export function stepFor(status: string | undefined, rounds: number): string {
  if (status === 'device' || status === 'pre-switchover') return 'stop-and-copy';
  if (status === 'postcopy-active') return 'activation';
  if (status === 'completed') return 'commitment';
  return rounds <= 1 ? 'initial-transfer' : 'iterative-transfer';
}

export class ProgressTracker {
  readonly p: MigrationProgress;
  #diskDone = 0;
  #diskTotal = 0;
  #ramSent = 0;
  #diskCarried = 0;

  constructor(id: string, role: 'source' | 'target', memoryBytes: number, readonly strategy: ConcreteStrategy) {
    this.p = {
      id, role, state: 'reserved', step: 'reservation', percent: 0, rounds: 0, memoryBytes,
      remainingBytes: memoryBytes, streamBytes: 0, wireBytes: 0, dirtyRateBytesPerSec: 0, switchedToPostcopy: false,
    };
  }

  /** Folds the disk mirrors' progress in (before the memory migration starts). */
  updateDisks(done: number, total: number, carried: number, wireBytes: number): void {
    const p = this.p;
    this.#diskDone = Math.max(this.#diskDone, done);
    this.#diskTotal = Math.max(total, this.#diskDone);
    this.#diskCarried = Math.max(this.#diskCarried, carried);
    p.streamBytes = Math.max(p.streamBytes, this.#diskCarried + this.#ramSent);
    p.wireBytes = Math.max(p.wireBytes, wireBytes);
    p.remainingBytes = this.#diskTotal - this.#diskDone + p.memoryBytes;
    const all = this.#diskTotal + p.memoryBytes;
    if (all > 0) p.percent = Math.max(p.percent, Math.min(99, Math.floor((1000 * this.#diskDone) / all) / 10));
  }

  /** Folds one query-migrate answer in (source side: the ram stats are the source's). */
  update(info: QemuMigrateInfo, wireBytes: number, diskCarried = 0): void {
    const p = this.p;
    const ram = info.ram ?? {};
    const transferred = ram.transferred ?? this.#ramSent;
    const remaining = ram.remaining ?? p.remainingBytes;
    this.#ramSent = Math.max(this.#ramSent, transferred);
    this.#diskCarried = Math.max(this.#diskCarried, diskCarried);
    p.rounds = Math.max(p.rounds, ram['dirty-sync-count'] ?? 0);
    p.streamBytes = Math.max(p.streamBytes, this.#ramSent + this.#diskCarried);
    p.remainingBytes = remaining;
    p.wireBytes = Math.max(p.wireBytes, wireBytes);
    if (ram['dirty-pages-rate'] !== undefined) p.dirtyRateBytesPerSec = ram['dirty-pages-rate'] * (ram['page-size'] ?? 4096);
    if (info.status === 'postcopy-active') p.switchedToPostcopy = true;
    if (info.status === 'completed') {
      p.percent = 100;
      p.remainingBytes = 0;
      delete p.etaMs;
      if (info.downtime !== undefined) p.downtimeMs = info.downtime;
      if (info['total-time'] !== undefined) p.totalMs = info['total-time'];
    } else if (transferred + remaining > 0) {
      const disk = this.#diskTotal;
      p.percent = Math.max(p.percent, Math.min(99, Math.floor((1000 * (disk + transferred)) / (disk + transferred + remaining)) / 10));
      const bytesPerMs = ((ram.mbps ?? 0) * 1e6) / 8 / 1000;
      if (bytesPerMs > 0) p.etaMs = Math.round(remaining / bytesPerMs);
    }
    if (info.status !== undefined) p.step = stepFor(info.status, p.rounds);
  }

  fail(state: 'failed' | 'aborted', code: string, message: string): void {
    this.p.state = state;
    this.p.error ??= { code, message };
    delete this.p.etaMs;
  }

  snapshot(): MigrationProgress {
    return structuredClone(this.p);
  }
}
