// Taps for bridged NICs (docs/networking.md). The agent makes a persistent tap per bridged NIC
// on its guest bridge before QEMU starts and deletes it once that QEMU is gone, so a migration
// target has its own port on the segment before `-incoming`, and the source's port goes away
// after the discard. QEMU runs inside the guest bridge's network namespace (when there is one)
// and opens the tap by name: no bridge helper, no setuid, nothing in the root namespace.
//
// A tap's name comes from the NIC's MAC, which travels with the VM, so it is the same on every
// host and unique within one (`fe` + last three MAC bytes + `n` + NIC index: 11 characters).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { FerryError, type GuestNetwork, type VmSpec } from '../contracts/index.js';
import { GuestNetworkError } from './errors.js';
import { log } from './log.js';
import { macFor } from '../contracts/mac.js';
import { SerialQueue } from './serial-queue.js';

const run = promisify(execFile);
const TAP_NAME = /^fe[0-9a-f]{6}n[0-9]$/;
const SWEEP_MS = 2000;

export interface GuestBridge extends GuestNetwork {
  /** The bridge the taps join, e.g. br0. */
  bridge: string;
  /** The network namespace holding the bridge; QEMU runs in it too. Absent: the root namespace. */
  netns?: string;
}

/** What the sweep needs to know of a VM that owns taps. */
export interface TapOwner {
  readonly rec: { spec: VmSpec };
  readonly pidAlive: boolean;
}

export function tapName(spec: VmSpec, nicIndex: number): string {
  const mac = spec.nics[nicIndex]?.mac ?? macFor(spec.uuid, nicIndex);
  return `fe${mac.split(':').slice(3).join('')}n${nicIndex}`;
}

export function bridgedNics(spec: VmSpec): number[] {
  return spec.nics.flatMap((n, i) => (n.network === 'bridged' ? [i] : []));
}

export class GuestTaps {
  /** Taps this agent made, with the VM runtime whose QEMU uses them; `pending` while QEMU is starting. */
  readonly #owned = new Map<string, { owner: TapOwner; pending: boolean }>();
  /** Every change to the links, one at a time: a sweep never deletes a tap a launch is making again. */
  readonly #queue = new SerialQueue();
  #timer: NodeJS.Timeout | undefined;
  #sweeping: Promise<void> | undefined;

  constructor(readonly net: GuestBridge) {}

  /** argv prefix that runs a program in the bridge's namespace. */
  execPrefix(): string[] {
    return this.net.netns ? ['ip', 'netns', 'exec', this.net.netns] : [];
  }

  /** Makes (or keeps) the taps of `owner`'s bridged NICs, attached to the bridge and up. */
  ensure(owner: TapOwner): Promise<string[]> {
    return this.#queue.run(() => this.#ensure(owner));
  }

  async #ensure(owner: TapOwner): Promise<string[]> {
    const spec = owner.rec.spec;
    const taps: string[] = [];
    for (const i of bridgedNics(spec)) {
      const nic = spec.nics[i];
      if (nic?.network === 'bridged' && nic.segment !== undefined && nic.segment !== this.net.segment) {
        throw new FerryError('INVALID_REQUEST', `vm ${spec.name}: its NIC ${i} is on segment ${nic.segment}, this host's bridge is on ${this.net.segment}`);
      }
      const tap = tapName(spec, i);
      const held = this.#owned.get(tap);
      if (held && held.owner.rec.spec.uuid !== spec.uuid && (held.pending || held.owner.pidAlive)) {
        throw new FerryError('CONFLICT', `vm ${spec.name}: tap ${tap} belongs to vm ${held.owner.rec.spec.name} (their MACs end alike); give one of them another MAC`);
      }
      this.#owned.set(tap, { owner, pending: true });
      if (!(await this.#exists(tap))) await this.#ip('tuntap', 'add', 'dev', tap, 'mode', 'tap', 'vnet_hdr');
      await this.#ip('link', 'set', tap, 'master', this.net.bridge, 'up');
      taps.push(tap);
    }
    return taps;
  }

  /** QEMU has the taps open (or failed to start: then `release` follows). */
  started(owner: TapOwner): void {
    for (const e of this.#owned.values()) if (e.owner === owner) e.pending = false;
  }

  /** Deletes `owner`'s taps now (QEMU is gone or never started). */
  release(owner: TapOwner): Promise<void> {
    return this.#queue.run(async () => {
      for (const [tap, e] of [...this.#owned]) if (e.owner === owner) await this.#delete(tap);
    });
  }

  /** Taps of VMs adopted at agent start, and a sweep of taps no adopted VM owns (left by a crash). */
  adopt(owners: Iterable<TapOwner>): Promise<void> {
    return this.#queue.run(async () => {
      for (const owner of owners) {
        if (!owner.pidAlive) continue;
        for (const i of bridgedNics(owner.rec.spec)) this.#owned.set(tapName(owner.rec.spec, i), { owner, pending: false });
      }
      const present = await this.#listTaps();
      for (const tap of present) if (!this.#owned.has(tap)) await this.#delete(tap);
    });
  }

  /** Every 2 s: deletes the taps whose QEMU has exited, whatever ended it (stop, crash, migration away). */
  start(): this {
    this.#timer = setInterval(() => {
      this.#sweeping ??= this.sweep().finally(() => (this.#sweeping = undefined));
    }, SWEEP_MS);
    this.#timer.unref();
    return this;
  }

  sweep(): Promise<void> {
    return this.#queue.run(async () => {
      for (const [tap, e] of [...this.#owned]) {
        if (!e.pending && !e.owner.pidAlive) await this.#delete(tap);
      }
    });
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#sweeping;
  }

  async #delete(tap: string): Promise<void> {
    this.#owned.delete(tap);
    try {
      await this.#ip('link', 'delete', tap);
      log('guest net: deleted tap %s', tap);
    } catch (err) {
      if (await this.#exists(tap)) log('guest net: cannot delete tap %s: %s', tap, (err as Error).message);
    }
  }

  async #exists(tap: string): Promise<boolean> {
    try {
      await this.#ip('link', 'show', 'dev', tap);
      return true;
    } catch {
      return false;
    }
  }

  async #listTaps(): Promise<string[]> {
    const out = await this.#ip('-j', 'link', 'show', 'master', this.net.bridge);
    const links = JSON.parse(out || '[]') as { ifname: string }[];
    return links.map((l) => l.ifname).filter((n) => TAP_NAME.test(n));
  }

  async #ip(...args: string[]): Promise<string> {
    const argv = this.net.netns ? ['-n', this.net.netns, ...args] : args;
    try {
      return (await run('ip', argv, { timeout: 10_000 })).stdout;
    } catch (err) {
      const e = err as Error & { stderr?: string };
      throw new GuestNetworkError(`ip ${argv.join(' ')}: ${(e.stderr ?? e.message).trim()}`, err);
    }
  }
}
