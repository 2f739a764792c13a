// The simulated cluster: where each VM runs, what each host's profile samples say, and an
// executor that carries planned moves out as live migrations — in list order, at most `maxMoves`
// at once, each host's link carrying one migration at a time at full speed, the VM's memory
// reserved on the target when the migration starts (a move that finds no room waits; with
// nothing left running it is dropped). A migration sends memory × the pre-copy series at the
// VM's real dirty rate × a factor the planner cannot see, and lands in the history it learns from.
import type { BalancePolicy, Utilisation } from '../../src/contracts/balance.js';
import type { BalanceHistory, BalanceSnapshot, PastMigration } from '../../src/controller/balance/planner.js';
import { peak, spread, volume } from '../../src/controller/balance/profiles.js';
import { LINK_BYTES_PER_SEC, type Trace } from './trace.js';

/** What a balancer asks for; moves with a `step` wait for the previous step of their group. */
export interface PlannedMove {
  vm: string;
  to: string;
  group?: string;
  step?: number;
}

export interface Migration {
  vm: number;
  from: number;
  to: number;
  startSec: number;
  endSec: number;
  bytes: number;
  /** Moves of one plan group (a swap's legs) are one relocation when counting thrash. */
  key: string;
}

interface Queued {
  vm: number;
  to: number;
  step?: number;
  key: string;
}

const MIB = 1024 * 1024;
const PRECOPY_ROUNDS = 30;
const SETUP_SEC = 0.5;

export class SimCluster {
  readonly hostOf: Int32Array;
  readonly cpu: Float64Array;
  readonly net: Float64Array;
  /** CPU the VM got (demand scaled down on a saturated host). */
  readonly gotCpu: Float64Array;
  readonly samples: Utilisation[][];
  readonly migrations: Migration[] = [];
  readonly history: PastMigration[] = [];
  dropped = 0;
  nowSec = 0;
  private readonly memUsed: Float64Array;
  private readonly vcpusUsed: Float64Array;
  private readonly index = new Map<string, number>();
  private readonly hostIndex = new Map<string, number>();
  private queue: Queued[] = [];
  private readonly inflight: Migration[] = [];

  constructor(
    readonly trace: Trace,
    readonly policy: BalancePolicy,
  ) {
    const { hosts, vms } = trace;
    this.hostOf = Int32Array.from(vms.map((v) => v.host));
    this.cpu = new Float64Array(vms.length);
    this.net = new Float64Array(vms.length);
    this.gotCpu = new Float64Array(vms.length);
    this.samples = hosts.map(() => []);
    this.memUsed = new Float64Array(hosts.length);
    this.vcpusUsed = new Float64Array(hosts.length);
    vms.forEach((v, i) => {
      this.index.set(v.name, i);
      this.memUsed[v.host]! += v.memoryMiB;
      this.vcpusUsed[v.host]! += v.vcpus;
    });
    hosts.forEach((h, i) => this.hostIndex.set(h.name, i));
  }

  /** Take this tick's host samples from the demand in `cpu`/`net`; returns their volume spread and hot hosts. */
  measure(): { spread: number; hot: number } {
    const { hosts, vms } = this.trace;
    const cpu = new Float64Array(hosts.length);
    const net = new Float64Array(hosts.length);
    const mem = new Float64Array(hosts.length);
    vms.forEach((v, i) => {
      const h = this.hostOf[i]!;
      cpu[h]! += this.cpu[i]!;
      net[h]! += this.net[i]!;
      mem[h]! += v.memoryMiB * v.residentShare;
    });
    vms.forEach((_, i) => {
      const h = this.hostOf[i]!;
      this.gotCpu[i] = this.cpu[i]! * Math.min(1, hosts[h]!.cpus / cpu[h]!);
    });
    const vols: number[] = [];
    let hot = 0;
    hosts.forEach((h, i) => {
      const u = { cpu: Math.min(1, cpu[i]! / h.cpus), net: Math.min(1, net[i]! / h.netBytesPerSec), mem: mem[i]! / h.memoryMiB };
      const s = this.samples[i]!;
      s.push(u);
      if (s.length > this.policy.n) s.shift();
      vols.push(volume(u));
      if (peak(u) > this.policy.threshold) hot++;
    });
    return { spread: spread(vols), hot };
  }

  idle(): boolean {
    return this.queue.length === 0 && this.inflight.length === 0;
  }

  snapshot(): { snapshot: BalanceSnapshot; history: BalanceHistory } {
    const { hosts, vms } = this.trace;
    return {
      snapshot: {
        hosts: hosts.map((h, i) => ({ ...h, up: true, samples: [...this.samples[i]!] })),
        vms: vms.map((v, i) => ({
          name: v.name,
          host: hosts[this.hostOf[i]!]!.name,
          memoryMiB: v.memoryMiB,
          vcpus: v.vcpus,
          cpuCores: this.gotCpu[i]!,
          netBytesPerSec: this.net[i]!,
          residentMiB: v.memoryMiB * v.residentShare,
          dirtyBytesPerSec: v.dirtyPerCore * this.gotCpu[i]!,
        })),
      },
      history: { nowMs: this.nowSec * 1000, migrations: this.history },
    };
  }

  enqueue(moves: readonly PlannedMove[], plan: number): void {
    for (const m of moves) this.queue.push({ vm: this.index.get(m.vm)!, to: this.hostIndex.get(m.to)!, step: m.step, key: `${plan}:${m.group ?? m.vm}` });
  }

  /** Run the executor for `sec` seconds of simulated time. */
  advance(sec: number): void {
    const end = this.nowSec + sec;
    for (;;) {
      this.start();
      const next = this.inflight.reduce((t, m) => Math.min(t, m.endSec), Infinity);
      if (next > end) break;
      this.nowSec = Math.max(this.nowSec, next);
      for (const m of this.inflight.filter((x) => x.endSec <= next)) this.finish(m);
    }
    this.nowSec = end;
  }

  private start(): void {
    const busy = new Set(this.inflight.flatMap((m) => [m.from, m.to]));
    while (this.queue.length > 0 && this.inflight.length < this.policy.maxMoves) {
      const q = this.queue[0]!;
      const v = this.trace.vms[q.vm]!;
      const from = this.hostOf[q.vm]!;
      const room = this.trace.hosts[q.to]!.memoryMiB - this.policy.reserveMiB - this.memUsed[q.to]! >= v.memoryMiB;
      const waits = busy.has(from) || busy.has(q.to) || (q.step !== undefined && this.inflight.some((m) => m.key === q.key));
      if (waits || !room) {
        if (this.inflight.length === 0 && !room) {
          this.dropped += this.queue.length;
          this.queue = [];
        }
        return;
      }
      this.queue.shift();
      const r = Math.min((v.dirtyPerCore * this.gotCpu[q.vm]!) / LINK_BYTES_PER_SEC, 0.9);
      const bytes = ((v.memoryMiB * MIB * (1 - r ** PRECOPY_ROUNDS)) / (1 - r)) * v.costFactor;
      const m: Migration = { vm: q.vm, from, to: q.to, startSec: this.nowSec, endSec: this.nowSec + SETUP_SEC + bytes / LINK_BYTES_PER_SEC, bytes, key: q.key };
      this.memUsed[q.to]! += v.memoryMiB;
      this.vcpusUsed[q.to]! += v.vcpus;
      this.inflight.push(m);
      busy.add(from).add(q.to);
    }
  }

  private finish(m: Migration): void {
    this.inflight.splice(this.inflight.indexOf(m), 1);
    const v = this.trace.vms[m.vm]!;
    this.memUsed[m.from]! -= v.memoryMiB;
    this.vcpusUsed[m.from]! -= v.vcpus;
    this.hostOf[m.vm] = m.to;
    this.migrations.push(m);
    this.history.push({ vm: v.name, atMs: m.startSec * 1000, succeeded: true, wireBytes: m.bytes, totalMs: (m.endSec - m.startSec) * 1000 });
  }
}
