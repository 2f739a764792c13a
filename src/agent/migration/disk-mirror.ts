// Source side of storage migration (no shared storage; docs/qemu.md "Disks"): every local
// disk is mirrored into the target's NBD export before the memory migration starts.
//
//   QEMU (source) --NBD--> <vmdir>/nbd-out.sock --> session channel 1+i --> target's NBD server
//
// Per disk i (node `disk<i>`, named by qemu-command.ts): we accept one connection on
// nbd-out.sock while `blockdev-add {driver: nbd, node-name: mirror-tgt-<i>}` makes QEMU connect,
// and relay it onto channel 1+i; then `blockdev-mirror {sync: full, copy-mode: write-blocking}`.
// Write-blocking: once READY, a guest write completes only after it reached the target too, so
// the copy never falls behind and stays identical up to the moment the VM stops.
//
//   connecting --all jobs started--> copying --BLOCK_JOB_READY for each--> ready --finish()--> finishing --> finished
//        |                              |                                    |                    |            |
//        +------------------------------+------------- abort() ---------------+--------------------+------------+--> aborted
//
// QEMU tells us a job is READY (BLOCK_JOB_READY) and that one ended (BLOCK_JOB_COMPLETED/CANCELLED);
// a job that ends before we end it is a failure (onError). How far the copy got has no event:
// progress() asks query-block-jobs (the source's sampler calls it).
// Ending (at pre-switchover, the VM stopped but its disks not yet handed over): `block-job-cancel`
// on a READY job completes it without pivot (the source keeps its own disk), `blockdev-del`
// closes the NBD connection; the target then removes its exports and closes its side of the
// channel, which we wait for (finish()). Abort: force-cancel and delete; the VM and its own disk
// at the source are untouched.
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { FerryError } from '../../contracts/index.js';
import { connectablePath } from '../launch.js';
import { qmp } from '../qemu/monitor.js';
import type { VmRuntime } from '../vm-runtime.js';
import type { DataSession } from '../data-plane/plane.js';
import { acceptOne, relay, type Relay } from '../data-plane/relay.js';
import { DriverState, type TransitionTable } from '../driver-state.js';
import { MirrorJobError } from './errors.js';
import { nextEvent, watchEvent } from '../qemu/events.js';

export const NBD_FIRST_CHANNEL = 1;
const QEMU_CONNECT_TIMEOUT_MS = 10_000;
const JOB_END_TIMEOUT_MS = 30_000;
const TARGET_RELEASE_TIMEOUT_MS = 10_000;

/** Names shared by both sides for disk i. */
export const diskNode = (i: number): string => `disk${i}`;
export const exportName = (i: number): string => `disk${i}`;
const jobId = (i: number): string => `mirror-disk${i}`;
const nbdNode = (i: number): string => `mirror-tgt-${i}`;

type MirrorState = 'connecting' | 'copying' | 'ready' | 'finishing' | 'finished' | 'aborted';
const MIRROR_TRANSITIONS: TransitionTable<MirrorState> = {
  connecting: ['copying', 'aborted'],
  copying: ['ready', 'aborted'],
  ready: ['finishing', 'aborted'],
  finishing: ['finished', 'aborted'],
  finished: ['aborted'],
  aborted: [],
};

export interface MirrorProgress {
  /** Bytes copied so far, and the bytes the jobs know they must copy (grows with new writes). */
  done: number;
  total: number;
}

export class DiskMirror {
  readonly #state: DriverState<MirrorState>;
  readonly #relays: Relay[] = [];
  readonly #channels: Duplex[] = [];
  /** Indexes of the NBD nodes and mirror jobs that exist in QEMU (for the end and the abort). */
  readonly #nodes: number[] = [];
  readonly #jobs: number[] = [];
  readonly #readyJobs = new Set<string>();
  /** Ends the event watches (finish, abort). */
  readonly #watching = new AbortController();
  #onReady!: () => void;
  /** Resolves once every job is READY (a failure goes to onError instead). */
  readonly ready = new Promise<void>((resolve) => (this.#onReady = resolve));

  private constructor(readonly vm: VmRuntime, readonly count: number, readonly onError: (err: Error) => void) {
    this.#state = new DriverState(`disk mirror of vm ${vm.name}`, MIRROR_TRANSITIONS, 'connecting');
  }

  /** Connects every disk's NBD node through the session and starts its mirror job. */
  static async start(vm: VmRuntime, count: number, session: DataSession, signal: AbortSignal, onError: (err: Error) => void): Promise<DiskMirror> {
    const m = new DiskMirror(vm, count, onError);
    m.#watch(signal);
    try {
      const path = connectablePath(join(vm.paths.dir, 'nbd-out.sock'));
      for (let i = 0; i < count; i++) {
        const listener = await acceptOne(path, QEMU_CONNECT_TIMEOUT_MS, signal);
        const added = qmp(vm, 'blockdev-add', { driver: 'nbd', 'node-name': nbdNode(i), server: { type: 'unix', path }, export: exportName(i) }, { signal });
        // blockdev-add returns only after the NBD handshake, which needs the relay: wire it first.
        added.catch(() => listener.close());
        const qemu = await Promise.race([listener.accepted, added.then(() => listener.accepted)]);
        const ch = session.channel(NBD_FIRST_CHANNEL + i);
        m.#channels.push(ch);
        m.#relays.push(relay(qemu, ch, onError));
        await added;
        m.#nodes.push(i);
        await qmp(vm, 'blockdev-mirror', { 'job-id': jobId(i), device: diskNode(i), target: nbdNode(i), sync: 'full', 'copy-mode': 'write-blocking', 'auto-dismiss': true }, { signal });
        m.#jobs.push(i);
      }
    } catch (err) {
      await m.abort();
      throw err;
    }
    m.#state.to('copying', 'aborted while its jobs started');
    m.#checkReady();
    return m;
  }

  /** Follows the jobs' READY and their ends until finish() or abort(); registered before the first job starts. */
  #watch(signal: AbortSignal): void {
    const stop = AbortSignal.any([signal, this.#watching.signal]);
    // By name, not by #jobs: a job's first event can arrive before blockdev-mirror's reply is handled.
    const names = new Set(Array.from({ length: this.count }, (_, i) => jobId(i)));
    const ours = (device: string): boolean => names.has(device);
    const ended = (desc: string) => (d: { device: string; error?: string }): void => {
      if (ours(d.device) && this.#state.is('connecting', 'copying', 'ready')) this.onError(new MirrorJobError(d.device, d.error ?? desc));
    };
    const watches = [
      watchEvent(this.vm, 'BLOCK_JOB_READY', (d) => {
        if (!ours(d.device)) return;
        this.#readyJobs.add(d.device);
        this.#checkReady();
      }, stop),
      watchEvent(this.vm, 'BLOCK_JOB_COMPLETED', ended('ended on its own (the NBD connection to the target broke?)'), stop),
      watchEvent(this.vm, 'BLOCK_JOB_CANCELLED', ended('cancelled by someone else'), stop),
    ];
    for (const w of watches) w.catch((err: Error) => void (stop.aborted || this.onError(err)));
  }

  #checkReady(): void {
    if (!this.#state.is('copying') || this.#jobs.length < this.count) return;
    if (!this.#jobs.every((i) => this.#readyJobs.has(jobId(i)))) return;
    this.#state.to('ready');
    this.#onReady();
  }

  /** Sums over the jobs (query-block-jobs: how far the copy got has no event). */
  async progress(signal: AbortSignal): Promise<MirrorProgress> {
    const ours = new Set(this.#jobs.map(jobId));
    const jobs = (await qmp(this.vm, 'query-block-jobs', undefined, { signal })).filter((j) => ours.has(j.device));
    return { done: jobs.reduce((s, j) => s + j.offset, 0), total: jobs.reduce((s, j) => s + j.len, 0) };
  }

  /** Bytes the NBD relays carried (both directions, QEMU side). */
  bytes(): number {
    return this.#relays.reduce((s, r) => s + r.fromQemu() + r.toQemu(), 0);
  }

  /** Ends the jobs and waits (JOB_STATUS_CHANGE to `null`: auto-dismissed) until QEMU has let go of each. */
  async #endJobs(force: boolean, signal?: AbortSignal): Promise<void> {
    const ids = this.#jobs.map(jobId);
    const done = new AbortController();
    const until = signal ? AbortSignal.any([signal, done.signal]) : done.signal;
    const gone = new Map(ids.map((id) => [id, nextEvent(this.vm, 'JOB_STATUS_CHANGE', (d) => d.id === id && d.status === 'null', { timeoutMs: JOB_END_TIMEOUT_MS, signal: until })]));
    for (const g of gone.values()) g.catch(() => undefined);
    const opts = signal ? { signal } : {};
    try {
      for (const id of ids) await qmp(this.vm, 'block-job-cancel', { device: id, force }, opts).catch(() => undefined);
      // A job that had already ended sends no more events: wait only for those QEMU still lists.
      const listed = new Set((await qmp(this.vm, 'query-block-jobs', undefined, opts)).map((j) => j.device));
      await Promise.all(ids.filter((id) => listed.has(id)).map((id) => gone.get(id)));
    } finally {
      done.abort();
    }
    this.#jobs.length = 0;
  }

  async #delNodes(signal?: AbortSignal): Promise<void> {
    for (const i of this.#nodes.splice(0)) await qmp(this.vm, 'blockdev-del', { 'node-name': nbdNode(i) }, signal ? { signal } : {});
  }

  /**
   * The VM is stopped (pre-switchover): complete the mirrors without pivot, disconnect, and
   * wait until the target has removed its exports (it closes its side of every channel then).
   */
  async finish(signal: AbortSignal): Promise<void> {
    this.#state.to('finishing');
    this.#watching.abort();
    const released = this.#channels.map((ch) => channelEnded(ch));
    await this.#endJobs(false, signal);
    await this.#delNodes(signal);
    // Our QEMU side is closed now (the relay's pipe may have let go): keep reading so 'end' fires.
    for (const ch of this.#channels) ch.resume();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_r, reject) => {
      timer = setTimeout(() => reject(new FerryError('TIMEOUT', `the target did not release its disk exports within ${TARGET_RELEASE_TIMEOUT_MS} ms`)), TARGET_RELEASE_TIMEOUT_MS);
    });
    try {
      await Promise.race([Promise.all(released), timeout]);
    } finally {
      clearTimeout(timer);
    }
    if (this.#state.is('finishing')) this.#state.to('finished');
  }

  /**
   * Force-cancels the jobs and drops the NBD nodes; the source's own disks are untouched.
   * Idempotent. Runs in the driver's teardown, after its signal fired: calls carry their timeouts only.
   */
  async abort(): Promise<void> {
    if (this.#state.is('aborted')) return;
    this.#state.to('aborted');
    this.#watching.abort();
    // Cut the connections first: a stalled NBD request would otherwise hold the cancel up.
    for (const r of this.#relays) r.destroy();
    if (!this.vm.qmp) return;
    await this.#endJobs(true).catch(() => undefined);
    await this.#delNodes().catch(() => undefined);
  }
}

/** Resolves once the peer has closed its side of `ch` (or the channel is gone). */
function channelEnded(ch: Duplex): Promise<void> {
  if (ch.readableEnded || ch.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    ch.once('end', () => resolve()).once('close', () => resolve());
  });
}
