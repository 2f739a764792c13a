// Zero-loss replication (Remus): the guest's outgoing packets are held until the checkpoint
// that produced them is committed at the DR site, so no client ever sees state a failover could
// lose. QEMU's `filter-buffer` on each NIC's netdev does the holding (queue rx: packets the
// guest sends; an interval too long to ever fire, so only we release). At each checkpoint's
// instant — the guest stopped — a new filter starts an epoch: what the guest sends from then on
// waits in it, while the older epochs' filters keep what came before. When checkpoint N
// commits, every epoch older than N's is deleted, and deleting a filter-buffer sends what it
// holds (net/filter-buffer.c cleanup). A failed checkpoint releases nothing; the next commit
// releases it all. Filters are not part of a VM's migrated state, so a restored copy has none.
import { log } from '../log.js';
import { netdevId } from '../qemu-command.js';
import { qmp, type CallOptions } from '../qemu/monitor.js';
import type { VmRuntime } from '../vm-runtime.js';

/** 4294 s: the largest interval QEMU accepts (uint32 µs); the timer never fires in practice. */
const NEVER_US = 4_294_000_000;

export class OutputHold {
  /** Per VM: the epochs whose filters exist, oldest first. */
  readonly #epochs = new Map<string, { seq: number; ids: string[] }[]>();

  /** Inside the checkpoint's pause: output from now on belongs to checkpoint `seq`'s successor. */
  async startEpoch(vm: VmRuntime, seq: number, opts: CallOptions): Promise<void> {
    const ids: string[] = [];
    const list = this.#epochs.get(vm.name) ?? [];
    list.push({ seq, ids });
    this.#epochs.set(vm.name, list);
    for (let i = 0; i < vm.rec.spec.nics.length; i++) {
      const id = `ferry-hold-${seq}-${i}`;
      // Noted first: a call that failed or was aborted may still have added the filter, and a
      // filter nobody knows of would hold the guest's output for good.
      ids.push(id);
      await qmp(vm, 'object-add', { 'qom-type': 'filter-buffer', id, netdev: netdevId(i), queue: 'rx', interval: NEVER_US }, opts);
    }
  }

  /** Checkpoint `seq` committed: release what the guest sent before its instant. */
  async committed(vm: VmRuntime, seq: number): Promise<void> {
    const list = this.#epochs.get(vm.name) ?? [];
    const older = list.filter((e) => e.seq < seq);
    this.#epochs.set(vm.name, list.filter((e) => e.seq >= seq));
    await this.#delete(vm, older);
  }

  /** Zero-loss mode ends (or the VM leaves): send everything held. */
  async releaseAll(vm: VmRuntime): Promise<void> {
    const list = this.#epochs.get(vm.name) ?? [];
    this.#epochs.delete(vm.name);
    await this.#delete(vm, list);
  }

  holding(vmName: string): number {
    return this.#epochs.get(vmName)?.length ?? 0;
  }

  /** Never with the job's signal: held output must go out even when the job that releases it is aborted. */
  async #delete(vm: VmRuntime, epochs: { ids: string[] }[]): Promise<void> {
    for (const e of epochs) {
      for (const id of e.ids) await qmp(vm, 'object-del', { id }).catch((err: Error) => log('vm %s: releasing held output %s: %s', vm.name, id, err.message));
    }
  }
}
