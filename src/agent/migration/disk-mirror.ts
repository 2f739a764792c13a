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
// Ending (at pre-switchover, the VM stopped but its disks not yet handed over): `block-job-cancel`
// on a READY job completes it without pivot (the source keeps its own disk), `blockdev-del`
// closes the NBD connection; the target then removes its exports and closes its side of the
// channel, which we wait for (finish()). Abort: force-cancel and delete; the VM and its own disk
// at the source are untouched.
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { FerryError } from '../../contracts/index.js';
import { connectablePath } from '../launch.js';
import { qmpCall } from '../qmp-call.js';
import type { VmRuntime } from '../vm-runtime.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DataSession } from '../data-plane/plane.js';
import { acceptOne, relay, type Relay } from '../data-plane/relay.js';

export const NBD_FIRST_CHANNEL = 1;
const QEMU_CONNECT_TIMEOUT_MS = 10_000;
const JOB_END_TIMEOUT_MS = 30_000;
const TARGET_RELEASE_TIMEOUT_MS = 10_000;

/** Names shared by both sides for disk i. */
export const diskNode = (i: number): string => `disk${i}`;
export const exportName = (i: number): string => `disk${i}`;
const jobId = (i: number): string => `mirror-disk${i}`;
const nbdNode = (i: number): string => `mirror-tgt-${i}`;

/** The part of query-block-jobs we read (qapi/block-core.json BlockJobInfo). */
interface BlockJobInfo {
  device: string;
  status: string;
  ready: boolean;
  offset: number;
  len: number;
  error?: string;
}

export interface MirrorProgress {
  /** Bytes copied so far, and the bytes the jobs know they must copy (grows with new writes). */
  done: number;
  total: number;
  ready: boolean;
}

export class DiskMirror {
  readonly #relays: Relay[] = [];
  readonly #channels: Duplex[] = [];
  readonly #nodes: number[] = [];
  readonly #jobs: number[] = [];
  #finished = false;

  private constructor(readonly vm: VmRuntime, readonly count: number) {}

  /** Connects every disk's NBD node through the session and starts its mirror job. */
  static async start(vm: VmRuntime, count: number, session: DataSession, signal: AbortSignal, onError: (err: Error) => void): Promise<DiskMirror> {
    const m = new DiskMirror(vm, count);
    try {
      const path = connectablePath(join(vm.paths.dir, 'nbd-out.sock'));
      for (let i = 0; i < count; i++) {
        const listener = await acceptOne(path, QEMU_CONNECT_TIMEOUT_MS, signal);
        const added = qmpCall(vm, 'blockdev-add', { driver: 'nbd', 'node-name': nbdNode(i), server: { type: 'unix', path }, export: exportName(i) });
        // blockdev-add returns only after the NBD handshake, which needs the relay: wire it first.
        added.catch(() => listener.close());
        const qemu = await Promise.race([listener.accepted, added.then(() => listener.accepted)]);
        const ch = session.channel(NBD_FIRST_CHANNEL + i);
        m.#channels.push(ch);
        m.#relays.push(relay(qemu, ch, onError));
        await added;
        m.#nodes.push(i);
        await qmpCall(vm, 'blockdev-mirror', { 'job-id': jobId(i), device: diskNode(i), target: nbdNode(i), sync: 'full', 'copy-mode': 'write-blocking', 'auto-dismiss': true });
        m.#jobs.push(i);
      }
    } catch (err) {
      await m.abort();
      throw err;
    }
    return m;
  }

  async #jobsInfo(): Promise<BlockJobInfo[]> {
    const all = await qmpCall<BlockJobInfo[]>(this.vm, 'query-block-jobs');
    const ours = new Set(this.#jobs.map(jobId));
    return all.filter((j) => ours.has(j.device));
  }

  /** Sum over the jobs; throws when one of them failed or vanished before it was ended by us. */
  async progress(): Promise<MirrorProgress> {
    const jobs = await this.#jobsInfo();
    if (jobs.length < this.#jobs.length) throw new FerryError('QEMU_FAILED', 'a disk mirror job ended on its own (the NBD connection to the target broke?)');
    const failed = jobs.find((j) => j.error || j.status === 'concluded' || j.status === 'aborting');
    if (failed) throw new FerryError('QEMU_FAILED', `disk mirror ${failed.device}: ${failed.error ?? failed.status}`);
    return {
      done: jobs.reduce((s, j) => s + j.offset, 0),
      total: jobs.reduce((s, j) => s + j.len, 0),
      ready: jobs.length > 0 && jobs.every((j) => j.ready),
    };
  }

  /** Bytes the NBD relays carried (both directions, QEMU side). */
  bytes(): number {
    return this.#relays.reduce((s, r) => s + r.fromQemu() + r.toQemu(), 0);
  }

  async #endJobs(force: boolean): Promise<void> {
    for (const i of this.#jobs) await qmpCall(this.vm, 'block-job-cancel', { device: jobId(i), force }).catch(() => undefined);
    const deadline = Date.now() + JOB_END_TIMEOUT_MS;
    while ((await this.#jobsInfo()).length > 0) {
      if (Date.now() > deadline) throw new FerryError('TIMEOUT', `disk mirror jobs of vm ${this.vm.name} did not end within ${JOB_END_TIMEOUT_MS} ms`);
      await sleep(50);
    }
    this.#jobs.length = 0;
  }

  async #delNodes(): Promise<void> {
    for (const i of this.#nodes.splice(0)) await qmpCall(this.vm, 'blockdev-del', { 'node-name': nbdNode(i) });
  }

  /**
   * The VM is stopped (pre-switchover): complete the mirrors without pivot, disconnect, and
   * wait until the target has removed its exports (it closes its side of every channel then).
   */
  async finish(): Promise<void> {
    if (this.#finished) return;
    this.#finished = true;
    const released = this.#channels.map((ch) => channelEnded(ch));
    await this.#endJobs(false);
    await this.#delNodes();
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
  }

  /** Force-cancel the jobs and drop the NBD nodes; the source's own disks are untouched. Idempotent. */
  async abort(): Promise<void> {
    this.#finished = true;
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
