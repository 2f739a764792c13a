// Target side of storage migration (see disk-mirror.ts for the source): empty qcow2 disks of
// the source's virtual sizes at the VM's disk paths, attached to the incoming QEMU with the
// same node names (qemu-command.ts: `disk<i>`), each exported writable over QEMU's NBD server
// on <vmdir>/nbd-in.sock. Channel 1+i of the session is joined to one connection to that
// socket; the source's QEMU is the NBD client at the other end.
//
// Release: when the source has completed its mirror and deleted its NBD node, its side of the
// channel ends; we pass that on to our NBD server, and once every connection is closed we
// delete the exports and stop the server, and only then close our side of the channels. The
// source waits for that before it lets the migration switch over (pause-before-switchover),
// so the exports are gone before this QEMU can run the guest.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { DiskSpec } from '../../contracts/index.js';
import { qemuImg } from '../disks.js';
import { connectablePath } from '../launch.js';
import { log } from '../log.js';
import { qmp } from '../qemu/monitor.js';
import { diskFile } from '../vm-dir.js';
import type { VmRuntime } from '../vm-runtime.js';
import type { DataSession } from '../data-plane/plane.js';
import { diskNode, exportName, NBD_FIRST_CHANNEL } from './disk-mirror.js';
import { connectUnix } from '../data-plane/relay.js';

/** disks.ts's size of a new disk without sizeMiB. */
const DEFAULT_DISK_MIB = 1024;
const QEMU_IMG_TIMEOUT_MS = 60_000;
const NBD_CONNECT_TIMEOUT_MS = 10_000;

/** Virtual size in bytes the source's disk has, from its spec (an image's size from qemu-img info). */
async function virtualSize(d: DiskSpec): Promise<number> {
  // A library image's size travels in the spec: this host need not hold the image.
  if (d.fromImage) return Math.max(d.fromImage.virtualSize ?? 0, (d.sizeMiB ?? 0) * 1024 * 1024);
  if (!d.image) return (d.sizeMiB ?? DEFAULT_DISK_MIB) * 1024 * 1024;
  const info = JSON.parse(await qemuImg(['info', '-U', '--output=json', d.image], QEMU_IMG_TIMEOUT_MS)) as { 'virtual-size': number };
  return info['virtual-size'];
}

/** Standalone empty qcow2 disks (no backing file: sync=full copies the flattened chain). */
export async function createEmptyDisks(vmDir: string, disks: DiskSpec[]): Promise<void> {
  for (const [i, d] of disks.entries()) {
    await qemuImg(['create', '-q', '-f', 'qcow2', diskFile(vmDir, i), String(await virtualSize(d))], QEMU_IMG_TIMEOUT_MS);
  }
}

export class DiskExports {
  readonly #socks: Socket[] = [];
  /** The idempotent removal, once started. */
  #removed: Promise<void> | undefined;

  private constructor(readonly vm: VmRuntime, readonly count: number, readonly path: string) {}

  static async start(vm: VmRuntime, count: number, signal: AbortSignal): Promise<DiskExports> {
    const path = connectablePath(join(vm.paths.dir, 'nbd-in.sock'));
    rmSync(path, { force: true });
    await qmp(vm, 'nbd-server-start', { addr: { type: 'unix', data: { path } } }, { signal });
    const e = new DiskExports(vm, count, path);
    for (let i = 0; i < count; i++) {
      await qmp(vm, 'block-export-add', { type: 'nbd', id: exportName(i), 'node-name': diskNode(i), name: exportName(i), writable: true }, { signal });
    }
    return e;
  }

  /** Joins channel 1+i to a new connection to our NBD server, per disk. */
  async attach(session: DataSession, signal: AbortSignal, onError: (err: Error) => void): Promise<void> {
    const closed: Promise<void>[] = [];
    const channels: Duplex[] = [];
    for (let i = 0; i < this.count; i++) {
      const sock = await connectUnix(this.path, NBD_CONNECT_TIMEOUT_MS, signal);
      const ch = session.channel(NBD_FIRST_CHANNEL + i);
      this.#socks.push(sock);
      channels.push(ch);
      sock.on('error', onError);
      ch.on('error', onError);
      // Our side of the channel stays open after QEMU's connection closed: it is the signal
      // "exports removed" to the source, sent once that is true.
      sock.pipe(ch, { end: false });
      ch.pipe(sock);
      closed.push(new Promise((resolve) => sock.once('close', () => resolve())));
    }
    void Promise.all(closed).then(async () => {
      try {
        await this.remove(signal);
        for (const ch of channels) ch.end();
      } catch (err) {
        onError(err as Error);
      }
    });
  }

  /** Bytes our NBD server exchanged (both directions). */
  bytes(): number {
    return this.#socks.reduce((s, k) => s + k.bytesRead + k.bytesWritten, 0);
  }

  /** Deletes the exports and stops the server. Idempotent: later calls share the first one's outcome. */
  remove(signal?: AbortSignal): Promise<void> {
    const opts = signal ? { signal } : {};
    this.#removed ??= (async () => {
      for (let i = 0; i < this.count; i++) {
        await qmp(this.vm, 'block-export-del', { id: exportName(i) }, opts).catch((err: Error) => log('vm %s: block-export-del %s: %s', this.vm.name, exportName(i), err.message));
      }
      await qmp(this.vm, 'nbd-server-stop', undefined, opts);
      rmSync(this.path, { force: true });
    })();
    return this.#removed;
  }

  destroy(): void {
    for (const s of this.#socks) s.destroy();
  }
}
