// The progress a migration driver publishes (MigrationProgress, src/contracts/migration.ts): an
// immutable snapshot, and pure reducers `(snapshot, report) -> snapshot` that fold in what QEMU
// (its events, the sampler's query-migrate, the mirrors' query-block-jobs) and the data plane
// report. The driver holds the current snapshot and replaces it; nothing else writes it.
// - percent never runs backwards (QEMU's `remaining` grows again at each new round), and only a
//   completed migration is 100;
// - with local disks the mirrors' bytes count in too: they are copied first, so
//   percent = (disk + RAM sent) / (disk + RAM to send);
// - streamBytes is what the NBD connections really carried (unallocated areas of a disk cross as
//   tiny write-zeroes requests) plus QEMU's RAM stream; byte counts and rounds only grow.
import type { MigrationInfo, MigrationStatus } from '../../qmp/index.js';
import type { FailureCode, MigrationProgress, MigrationQemuStatus } from '../../contracts/index.js';

type State = MigrationProgress['state'];

export interface ProgressSnapshot {
  /** What the agent's API answers (frozen). */
  readonly progress: Readonly<MigrationProgress>;
  /** Running sums the percent comes from; not on the wire. */
  readonly disk: { readonly done: number; readonly total: number; readonly carried: number };
  readonly ramSent: number;
}

type Draft = MigrationProgress;

function next(s: ProgressSnapshot, change: (p: Draft) => void, sums: Partial<Pick<ProgressSnapshot, 'disk' | 'ramSent'>> = {}): ProgressSnapshot {
  const p: Draft = { ...s.progress };
  change(p);
  if (p.error) p.error = Object.freeze({ ...p.error });
  return Object.freeze({ progress: Object.freeze(p), disk: Object.freeze({ ...(sums.disk ?? s.disk) }), ramSent: sums.ramSent ?? s.ramSent });
}

const percentOf = (done: number, all: number): number => Math.min(99, Math.floor((1000 * done) / all) / 10);

function withoutEta(p: Draft): void {
  delete p.etaMs;
}

/** QEMU's status as the contract carries it (compiles only while QEMU's set is part of the contract's). */
export function qemuStatusOf(status: MigrationStatus): MigrationQemuStatus {
  return status;
}

export function initialProgress(id: string, role: 'source' | 'target', memoryBytes: number): ProgressSnapshot {
  const progress: Draft = {
    id, role, state: 'reserved', qemuStatus: 'none', percent: 0, rounds: 0, memoryBytes,
    remainingBytes: memoryBytes, streamBytes: 0, wireBytes: 0, dirtyRateBytesPerSec: 0, switchedToPostcopy: false,
  };
  return Object.freeze({ progress: Object.freeze(progress), disk: Object.freeze({ done: 0, total: 0, carried: 0 }), ramSent: 0 });
}

/** The disk mirrors' sums (before the memory migration starts); `carried` is what their connections moved. */
export function withDisks(s: ProgressSnapshot, m: { done: number; total: number }, bytes: { carried: number; wire: number }): ProgressSnapshot {
  const done = Math.max(s.disk.done, m.done);
  const disk = { done, total: Math.max(m.total, done), carried: Math.max(s.disk.carried, bytes.carried) };
  return next(s, (p) => {
    p.streamBytes = Math.max(p.streamBytes, disk.carried + s.ramSent);
    p.wireBytes = Math.max(p.wireBytes, bytes.wire);
    p.remainingBytes = disk.total - disk.done + p.memoryBytes;
    const all = disk.total + p.memoryBytes;
    if (all > 0) p.percent = Math.max(p.percent, percentOf(disk.done, all));
  }, { disk });
}

/** One query-migrate answer (source side: the RAM numbers are the source's). */
export function withMigrateInfo(s: ProgressSnapshot, info: MigrationInfo, bytes: { wire: number; diskCarried?: number }): ProgressSnapshot {
  const ram = info.ram;
  const transferred = ram?.transferred ?? s.ramSent;
  const ramSent = Math.max(s.ramSent, transferred);
  const disk = { ...s.disk, carried: Math.max(s.disk.carried, bytes.diskCarried ?? 0) };
  return next(s, (p) => {
    const remaining = ram?.remaining ?? p.remainingBytes;
    p.rounds = Math.max(p.rounds, ram?.['dirty-sync-count'] ?? 0);
    p.streamBytes = Math.max(p.streamBytes, ramSent + disk.carried);
    p.remainingBytes = remaining;
    p.wireBytes = Math.max(p.wireBytes, bytes.wire);
    if (ram) p.dirtyRateBytesPerSec = ram['dirty-pages-rate'] * (ram['page-size'] || 4096);
    if (info.status === 'completed') {
      p.percent = 100;
      p.remainingBytes = 0;
      withoutEta(p);
      if (info.downtime !== undefined) p.downtimeMs = info.downtime;
      if (info['total-time'] !== undefined) p.totalMs = info['total-time'];
    } else if (transferred + remaining > 0) {
      p.percent = Math.max(p.percent, percentOf(disk.total + transferred, disk.total + transferred + remaining));
      const bytesPerMs = ((ram?.mbps ?? 0) * 1e6) / 8 / 1000;
      if (bytesPerMs > 0) p.etaMs = Math.round(remaining / bytesPerMs);
    }
  }, { disk, ramSent });
}

/** QEMU's status from a MIGRATION event (or Ferry's `mirroring-disks` phase). */
export function withQemuStatus(s: ProgressSnapshot, status: MigrationQemuStatus): ProgressSnapshot {
  return next(s, (p) => {
    p.qemuStatus = status;
    if (status === 'postcopy-active') p.switchedToPostcopy = true;
  });
}

/** A MIGRATION_PASS event: QEMU starts dirty-sync pass `pass`. */
export function withRounds(s: ProgressSnapshot, pass: number): ProgressSnapshot {
  return next(s, (p) => void (p.rounds = Math.max(p.rounds, pass)));
}

/** Byte counters the agent keeps itself (the target's relays and session; the source's session at commit). */
export function withCounters(s: ProgressSnapshot, c: { stream?: number; wire: number }): ProgressSnapshot {
  return next(s, (p) => {
    p.streamBytes = Math.max(p.streamBytes, c.stream ?? 0);
    p.wireBytes = Math.max(p.wireBytes, c.wire);
  });
}

/** Target of a `direct` migration: the port its QEMU listens on. */
export function withListenPort(s: ProgressSnapshot, port: number): ProgressSnapshot {
  return next(s, (p) => void (p.listenPort = port));
}

/** QEMU's total-time covers the memory migration only; with disks the driver measures the whole. */
export function withTotalMs(s: ProgressSnapshot, totalMs: number): ProgressSnapshot {
  return next(s, (p) => void (p.totalMs = totalMs));
}

/** The state the driver shows; `completed` is the only 100 %. Failures go through withFailure. */
export function withState(s: ProgressSnapshot, state: Exclude<State, 'failed' | 'aborted'>): ProgressSnapshot {
  return next(s, (p) => {
    p.state = state;
    if (state === 'completed') {
      p.percent = 100;
      p.remainingBytes = 0;
      withoutEta(p);
    }
  });
}

/** Ends the migration as failed or aborted; the first cause stands. */
export function withFailure(s: ProgressSnapshot, state: 'failed' | 'aborted', code: FailureCode, message: string): ProgressSnapshot {
  return next(s, (p) => {
    p.state = state;
    p.error ??= { code, message };
    withoutEta(p);
  });
}
