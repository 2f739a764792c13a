// Zero-loss replication (Remus): the guest's outgoing packets are held until the checkpoint
// that produced them is committed at the DR site, so no client ever sees state a failover could
// lose. QEMU's `filter-buffer` on each NIC's netdev does the holding (queue rx: packets the
// guest sends; an interval too long to ever fire, so only we release). At each checkpoint's
// instant — the guest stopped — a new filter starts an epoch: what the guest sends from then on
// waits in it, while the older epochs' filters keep what came before. When checkpoint N
// commits, every epoch started before N's own is deleted, and deleting a filter-buffer sends
// what it holds (net/filter-buffer.c cleanup). A failed checkpoint releases nothing; the next
// commit releases it all. Filters are not part of a VM's migrated state, so a restored copy has
// none.
//
// An agent restart: the filters live in QEMU, not in the agent, so they keep holding while no
// agent runs. The restarted agent finds them again (`adopt`: qom-list /objects, the epoch is in
// each filter's id `ferry-hold-<seq>-g<gen>-<nic>`) and keeps them, oldest first, as if it had
// made them. It does not release them: it cannot know whether the checkpoint that was under way
// (or the one just before it) committed at the DR site, and output released before its
// checkpoint commits is exactly what zero-loss mode promises never to let out. The next commit
// releases them all (everything they hold predates its instant); leaving zero-loss mode or
// unprotecting releases them too. Output is held a little longer, never released early. `gen`
// tells two epochs of one seq apart (a seq the controller tried before its own restart may come
// again), so an id is never reused.
import { log } from '../log.js';
import { netdevId } from '../qemu-command.js';
import { qmp, type CallOptions } from '../qemu/monitor.js';
import type { VmRuntime } from '../vm-runtime.js';

/** 4294 s: the largest interval QEMU accepts (uint32 µs); the timer never fires in practice. */
const NEVER_US = 4_294_000_000;
/** `ferry-hold-<seq>-g<gen>-<nic>`; `ferry-hold-<seq>-<nic>` from agents before generations. */
const HOLD_ID = /^ferry-hold-(\d+)-(?:g(\d+)-)?(\d+)$/;

interface Epoch {
  seq: number;
  gen: number;
  ids: string[];
}

export class OutputHold {
  /** Per VM: the epochs whose filters exist, oldest first. */
  readonly #epochs = new Map<string, Epoch[]>();

  /** Inside the checkpoint's pause: output from now on belongs to checkpoint `seq`'s successor. */
  async startEpoch(vm: VmRuntime, seq: number, opts: CallOptions): Promise<void> {
    const list = this.#epochs.get(vm.name) ?? [];
    const gen = Math.max(-1, ...list.filter((e) => e.seq === seq).map((e) => e.gen)) + 1;
    const epoch: Epoch = { seq, gen, ids: [] };
    list.push(epoch);
    this.#epochs.set(vm.name, list);
    for (let i = 0; i < vm.rec.spec.nics.length; i++) {
      const id = `ferry-hold-${seq}-g${gen}-${i}`;
      // Noted first: a call that failed or was aborted may still have added the filter, and a
      // filter nobody knows of would hold the guest's output for good.
      epoch.ids.push(id);
      await qmp(vm, 'object-add', { 'qom-type': 'filter-buffer', id, netdev: netdevId(i), queue: 'rx', interval: NEVER_US }, opts);
    }
  }

  /** Checkpoint `seq` committed: release what the guest sent before its instant (every epoch started before its own). */
  async committed(vm: VmRuntime, seq: number): Promise<void> {
    const list = this.#epochs.get(vm.name) ?? [];
    const own = list.map((e) => e.seq).lastIndexOf(seq);
    const older = own >= 0 ? list.slice(0, own) : list.filter((e) => e.seq < seq);
    this.#epochs.set(vm.name, list.filter((e) => !older.includes(e)));
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

  /** After an agent restart: take over the filters QEMU still has (see the header); returns how many epochs. */
  async adopt(vm: VmRuntime, opts: CallOptions): Promise<number> {
    const found = new Map<string, Epoch>();
    for (const child of await qmp(vm, 'qom-list', { path: '/objects' }, opts)) {
      const m = HOLD_ID.exec(child.name);
      if (!m || child.type !== 'child<filter-buffer>') continue;
      const seq = Number(m[1]);
      const gen = Number(m[2] ?? 0);
      const key = `${seq}/${gen}`;
      const e = found.get(key) ?? found.set(key, { seq, gen, ids: [] }).get(key)!;
      e.ids.push(child.name);
    }
    const known = this.#epochs.get(vm.name) ?? [];
    const ids = new Set(known.flatMap((e) => e.ids));
    const adopted = [...found.values()].filter((e) => e.ids.every((id) => !ids.has(id)));
    const all = [...known, ...adopted].sort((x, y) => x.seq - y.seq || x.gen - y.gen);
    if (all.length > 0) this.#epochs.set(vm.name, all);
    if (adopted.length > 0) log('vm %s: found %d epoch(s) of held output from before the restart (seq %s): held until the next commit', vm.name, adopted.length, adopted.map((e) => e.seq).join(', '));
    return adopted.length;
  }

  /** Never with the job's signal: held output must go out even when the job that releases it is aborted. */
  async #delete(vm: VmRuntime, epochs: readonly Epoch[]): Promise<void> {
    for (const e of epochs) {
      for (const id of e.ids) await qmp(vm, 'object-del', { id }).catch((err: Error) => log('vm %s: releasing held output %s: %s', vm.name, id, err.message));
    }
  }
}
