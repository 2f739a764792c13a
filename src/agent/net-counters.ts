// Bytes each VM's NICs carried, counted by QEMU itself.
//
// QEMU 10 exposes no per-NIC byte counters: virtio-net-pci's QOM properties are configuration
// only, `query-stats` has providers kvm and cryptodev (none for net), `x-query-virtio-queue-status`
// gives ring indices (descriptors, not bytes), user-mode networking (slirp) keeps no totals.
// /proc/PID/io is no substitute: slirp moves data with recv()/send(), which rchar/wchar do not
// count; measured with the `http` guest, rchar grew 82,808 bytes for 2,518 requests, all of it
// 8-byte eventfd reads (syscr 10,351), nothing to do with the traffic (docs/metrics-agent.md).
//
// So each NIC's netdev gets two `filter-dump` objects (net/dump.c) with maxlen=1: QEMU writes a
// 16-byte pcap record header plus one byte per frame to a file in the VM's directory, and
// pcap-count.ts adds up each record's orig_len. That is every Ethernet frame the guest sent or
// received, exactly, headers included. Direction (qemu-options "queue"): a filter on queue=rx
// sees what is sent *to* the netdev, i.e. the guest's transmit; queue=tx the guest's receive.
// Cost: one small write per frame on QEMU's main loop (≈17 bytes/frame of page cache); files
// are restarted past ROTATE_BYTES, and frames in the instant between object-del and object-add
// are not counted. The counters start at 0 whenever a QEMU process is first seen (start,
// restore, migration arrival, agent restart): consumers treat a decrease as a reset.
import { open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { log } from './log.js';
import { PcapCounter } from './pcap-count.js';
import { netdevId } from './qemu-command.js';
import { qmp } from './qemu/monitor.js';
import { SerialQueue } from './serial-queue.js';
import type { VmRuntime } from './vm-runtime.js';

const MAXLEN = 1;
export const ROTATE_BYTES = 4 * 1024 * 1024;
const READ_CHUNK = 256 * 1024;

type Direction = 'rx' | 'tx';
/** The filter queue that sees the guest's `dir` traffic. */
const QUEUE_FOR: Record<Direction, string> = { rx: 'tx', tx: 'rx' };

interface Tap {
  nic: number;
  dir: Direction;
  id: string;
  path: string;
  counter: PcapCounter;
  offset: number;
  /** Bytes counted in earlier files of this tap. */
  base: number;
}

export interface NetTotals {
  rxBytes: number;
  txBytes: number;
}

export class NetCounters {
  /** One read buffer per VM: its drains run one at a time (#serial); VMs drain side by side. */
  readonly #buf = Buffer.allocUnsafe(READ_CHUNK);
  readonly #queue = new SerialQueue();

  private constructor(
    private readonly vm: VmRuntime,
    private readonly taps: Tap[],
  ) {}

  /** Adds (or re-adds, from zero) the dump filters of every NIC of a running VM. */
  static async install(vm: VmRuntime, signal?: AbortSignal): Promise<NetCounters> {
    const taps: Tap[] = vm.rec.spec.nics.flatMap((_nic, i) => (['rx', 'tx'] as const).map((dir) => ({
      nic: i, dir, id: `ferry-net${i}-${dir}`, path: join(vm.paths.dir, `net${i}-${dir}.pcap`), counter: new PcapCounter(), offset: 0, base: 0,
    })));
    const c = new NetCounters(vm, taps);
    for (const t of taps) await c.#restart(t, signal);
    return c;
  }

  /** Totals over all NICs, after reading what QEMU wrote since the last call. */
  totals(): Promise<NetTotals> {
    return this.#serial(async () => {
      for (const t of this.taps) await this.#drain(t);
      const sum = (dir: Direction) => this.taps.filter((t) => t.dir === dir).reduce((n, t) => n + t.base + t.counter.bytes, 0);
      return { rxBytes: sum('rx'), txBytes: sum('tx') };
    });
  }

  /** Starts a fresh file for every tap whose file grew past ROTATE_BYTES. */
  rotate(signal?: AbortSignal): Promise<void> {
    return this.#serial(async () => {
      for (const t of this.taps) if (t.offset >= ROTATE_BYTES) await this.#restart(t, signal);
    });
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    return this.#queue.run(fn);
  }

  async #restart(t: Tap, signal?: AbortSignal): Promise<void> {
    await qmp(this.vm, 'object-del', { id: t.id }, { signal }).catch(() => undefined); // absent on a new QEMU
    await this.#drain(t).catch(() => undefined);
    t.base += t.counter.bytes;
    t.counter = new PcapCounter();
    t.offset = 0;
    await unlink(t.path).catch(() => undefined);
    await qmp(this.vm, 'object-add', { 'qom-type': 'filter-dump', id: t.id, netdev: netdevId(t.nic), queue: QUEUE_FOR[t.dir], file: t.path, maxlen: MAXLEN }, { signal });
  }

  /** Feeds what the file gained since the last read to the tap's counter. */
  async #drain(t: Tap): Promise<void> {
    const fh = await open(t.path, 'r').catch(() => undefined);
    if (!fh) return;
    try {
      const buf = this.#buf;
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, READ_CHUNK, t.offset);
        if (bytesRead === 0) return;
        t.counter.push(buf.subarray(0, bytesRead));
        t.offset += bytesRead;
      }
    } catch (err) {
      // A corrupt file: count from a fresh one next time rather than report garbage.
      log('vm %s: %s: %s; restarting it', this.vm.name, t.path, (err as Error).message);
      t.offset = ROTATE_BYTES;
    } finally {
      await fh.close();
    }
  }
}
