// The high-availability fault matrix on a real cluster (`ferry up --sites main:1,dr:1`, two demo
// VMs on host1 protected to the dr site): inject one fault at a time and watch, every 250 ms,
// how many QEMU processes each VM has on the whole machine (by its uuid, under this cluster's
// data dirs), whether each VM runs at the end and what its guest heartbeat lived through.
// Used by test/e2e/ha-faults.test.ts (asserts the invariants) and bench/ha-faults.ts (times).
//
// Faults: Ferry's own (agent SIGKILL / SIGSTOP, controller SIGKILL / SIGSTOP, the controller's
// disk full) must stop no VM and start none elsewhere; a host cut off (its link) must fence
// itself and have its VMs restarted at the DR site, never running twice. The link cut is
// emulated: the host's agent is frozen (it neither hears nor is heard) and its fence guard's
// network is cut through its test hook (FERRY_FAULT_HOOKS=1, <dataDir>/fence/fault-link-down):
// a local cluster runs every host's control plane on one loopback, which no namespace cuts.
// Two faults of the host's own safety machinery: an agent SIGKILLed inside a DR checkpoint's
// pause (the capture's test hook holds it there, src/agent/dr/pause-record.ts) must cost the
// guest only that pause; a fence guard SIGSTOPped while its agent is SIGKILLed cannot fence, so
// nothing may start the VMs elsewhere while it is frozen (its host still answers TCP: peer-link.ts),
// and once continued it fences if its lease ran out, after which the VMs run again at DR.
// A clock step is not injected (stepping the real clock on a shared machine is dangerous): the
// lease path reads no wall clock, which unit tests prove (src/agent/fence/*.test.ts).
import { closeSync, existsSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Host, Vm } from '../../src/contracts/controller-api.js';
import type { Protection } from '../../src/contracts/dr.js';
import { parseHeartbeats, type Heartbeat } from '../../src/contracts/heartbeat.js';
import { scanHostQemus } from '../../src/agent/fence/qemu-procs.js';
import { fencePaths } from '../../src/agent/fence/files.js';
import { guardPid } from '../../src/agent/fence/spawn.js';
import { pausePaths } from '../../src/agent/dr/pause-record.js';
import { waitFor } from '../../src/testing/wait-for.js';
import { TestCluster } from './harness.js';

export const VMS = ['ha-a', 'ha-b'] as const;

/** A QEMU still in its -daemonize handshake: its parent is the agent (node) that spawned it. */
function launcher(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return readFileSync(`/proc/${ppid}/comm`, 'utf8').trim() === 'node';
  } catch {
    return false;
  }
}
const SAMPLE_MS = 250;

export interface MatrixTiming {
  /** How long a control-plane fault lasts (beyond lease + margin + the isolation window). */
  holdMs: number;
  /** How long the controller stays frozen. */
  ctlPauseMs: number;
}

export interface VmOutcome {
  vm: string;
  /** Most QEMU processes of this VM seen at once during the fault. */
  maxCopies: number;
  running: boolean;
  host: string;
  /** The same QEMU process before and after (never stopped). */
  sameQemu: boolean;
  seqBefore: number;
  seqAfter: number;
  /** Heartbeats the guest printed since the fault began: all bad=0, seq increasing on each host. */
  bad: number;
  seqRestarted: boolean;
  /** Fault → first heartbeat at the new host (failover only). */
  runningAgainMs?: number;
  /** Guest seconds lost: last seq at the old host − first seq at the new one, in ms (failover only). */
  dataWindowMs?: number;
}

export interface FaultRow {
  fault: string;
  /**
   * Ferry's own fault (no VM may stop), the host really cut off (its VMs must run again
   * elsewhere), or the host's fence guard frozen with its agent dead (never two copies; each VM
   * runs at the end, wherever).
   */
  kind: 'control-plane' | 'host-cut' | 'guard-frozen';
  vms: VmOutcome[];
  notes: string[];
}

interface Before {
  host: string;
  uuid: string;
  pid: number | undefined;
  seq: number;
  offsets: Map<string, number>;
}

const FAKETIME_LIB = ['/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1', '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1'].find((f) => existsSync(f));

export class HaFaultMatrix {
  readonly rows: FaultRow[] = [];
  /** What libfaketime reads: the offset of every Ferry process's wall clock. */
  readonly clockFile: string;
  private uuids = new Map<string, string>();

  constructor(
    readonly c: TestCluster,
    readonly timing: MatrixTiming,
  ) {
    this.clockFile = join(c.home, 'faketime');
  }

  private host(name: string): { name: string; pid: number; dataDir: string } {
    const a = this.c.clusterFile().agents.find((x) => x.name === name);
    if (!a) throw new Error(`no agent ${name}`);
    return a;
  }

  private consoleLog(host: string, vm: string): string {
    return join(this.host(host).dataDir, 'vms', vm, 'console.log');
  }

  /**
   * The cluster, two VMs on host1 protected to dr, each with a committed checkpoint. The RPO is
   * long, so that no checkpoint is in flight during the control-plane faults: an agent killed
   * during a checkpoint's pause leaves its VM paused (the DR capture driver's to fix, not the
   * fence's); the host-cut fault protects again with a short RPO first.
   */
  async setup(upArgs: string[] = []): Promise<void> {
    // Every process `ferry` starts reads the wall clock through libfaketime (scripts/setup.sh
    // installs it), offset by what clockFile says: "+0" until clockStep(). Monotonic clocks stay real.
    if (!FAKETIME_LIB) throw new Error('libfaketime is missing: run scripts/setup.sh (Debian package faketime)');
    writeFileSync(this.clockFile, '+0\n');
    Object.assign(process.env, { LD_PRELOAD: FAKETIME_LIB, FAKETIME_TIMESTAMP_FILE: this.clockFile, FAKETIME_CACHE_DURATION: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1' });
    await this.c.ok(['up', '--sites', 'main:1,dr:1', '--port', '0', '--accel', 'tcg', ...upArgs]);
    for (const vm of VMS) {
      const v = await this.c.json<Vm>(['vm', 'create', vm, '--memory', '96', '--workload', 'dirty:2:16', '--host', 'host1']);
      this.uuids.set(vm, v.uuid);
    }
    for (const vm of VMS) await this.c.waitBeat(vm, 1, 180_000);
    await this.protect('10m', 1);
  }

  private async protect(rpo: string, checkpoints: number): Promise<void> {
    for (const vm of VMS) await this.c.ok(['dr', 'protect', vm, '--to', 'dr', '--rpo', rpo]);
    await this.waitCheckpoints(checkpoints);
  }

  private async waitCheckpoints(checkpoints: number): Promise<void> {
    await waitFor(`${checkpoints} checkpoint(s) of each VM at the DR site`, async () => {
      const ps = await this.c.json<Protection[]>(['dr', 'status']);
      return VMS.every((vm) => (ps.find((p) => p.vm === vm)?.checkpoints ?? 0) >= checkpoints) ? true : undefined;
    }, { timeoutMs: 300_000, everyMs: 1000 });
  }

  /**
   * Running copies of each VM on the whole machine, under this cluster's data dirs. A QEMU that
   * is starting (-daemonize) is two processes for a moment: the one the agent spawned waits for
   * its daemon to be ready and exits, only the daemon runs the guest. The waiting one, still the
   * agent's child, is not a copy.
   */
  copies(): Map<string, number> {
    const uuids = new Set(this.uuids.values());
    const pids = new Map<string, number[]>();
    for (const a of this.c.clusterFile().agents) {
      for (const [uuid, ps] of scanHostQemus(a.dataDir, uuids)) pids.set(uuid, [...(pids.get(uuid) ?? []), ...ps]);
    }
    return new Map([...pids].map(([uuid, ps]) => [uuid, ps.filter((p) => !launcher(p)).length]));
  }

  private pidOn(host: string, vm: string): number | undefined {
    return scanHostQemus(this.host(host).dataDir, new Set([this.uuids.get(vm)!])).get(this.uuids.get(vm)!)?.[0];
  }

  private lastSeq(host: string, vm: string): number {
    const f = this.consoleLog(host, vm);
    if (!existsSync(f)) return -1;
    const text = readFileSync(f, 'utf8');
    return parseHeartbeats(text.slice(-8192)).at(-1)?.seq ?? -1;
  }

  private beatsSince(host: string, vm: string, offset: number): Heartbeat[] {
    const f = this.consoleLog(host, vm);
    if (!existsSync(f)) return [];
    return parseHeartbeats(readFileSync(f).subarray(offset).toString('utf8'));
  }

  private async snapshot(): Promise<Map<string, Before>> {
    const out = new Map<string, Before>();
    for (const vm of VMS) {
      const rec = await this.c.json<Vm>(['vm', 'show', vm]);
      const seq = this.lastSeq(rec.host, vm); // before the offsets: every beat after them is newer
      const offsets = new Map(this.c.clusterFile().agents.map((a) => {
        const f = this.consoleLog(a.name, vm);
        return [a.name, existsSync(f) ? statSync(f).size : 0] as const;
      }));
      out.set(vm, { host: rec.host, uuid: rec.uuid, pid: this.pidOn(rec.host, vm), seq, offsets });
    }
    return out;
  }

  /** Runs one fault: inject, hold, heal, then wait until the cluster answers and the VMs run. */
  async run(fault: string, kind: FaultRow['kind'], act: (notes: string[], t0: number) => Promise<void>): Promise<FaultRow> {
    const before = await this.snapshot();
    const max = new Map<string, number>(VMS.map((vm) => [vm, 0]));
    const firstBeatAt = new Map<string, number>();
    const t0 = performance.now();
    const sampler = setInterval(() => {
      const n = this.copies();
      for (const vm of VMS) max.set(vm, Math.max(max.get(vm)!, n.get(this.uuids.get(vm)!) ?? 0));
      if (kind === 'control-plane') return;
      for (const vm of VMS) {
        if (!firstBeatAt.has(vm) && this.beatsSince('host2', vm, before.get(vm)!.offsets.get('host2')!).length > 0) firstBeatAt.set(vm, performance.now() - t0);
      }
    }, SAMPLE_MS);
    const notes: string[] = [];
    try {
      await act(notes, t0);
      await this.settle(kind);
    } finally {
      clearInterval(sampler);
    }
    const vms: VmOutcome[] = [];
    for (const vm of VMS) {
      const b = before.get(vm)!;
      const rec = await this.c.json<Vm>(['vm', 'show', vm]);
      const old = this.beatsSince(b.host, vm, b.offsets.get(b.host)!);
      const moved = rec.host !== b.host;
      const now = moved ? this.beatsSince(rec.host, vm, b.offsets.get(rec.host)!) : old;
      const increasing = (hs: Heartbeat[]): boolean => hs.every((h, i) => i === 0 || h.seq > hs[i - 1]!.seq);
      const first = now[0];
      vms.push({
        vm, maxCopies: max.get(vm)!, running: rec.state === 'running', host: rec.host,
        sameQemu: b.pid !== undefined && this.pidOn(rec.host, vm) === b.pid,
        seqBefore: b.seq, seqAfter: this.lastSeq(rec.host, vm),
        bad: [...old, ...(moved ? now : [])].reduce((m, h) => Math.max(m, h.bad), 0),
        seqRestarted: !increasing(old) || (moved && !increasing(now)) || (!moved && (old[0]?.seq ?? b.seq + 1) <= b.seq),
        ...(moved && firstBeatAt.has(vm) ? { runningAgainMs: Math.round(firstBeatAt.get(vm)!) } : {}),
        ...(moved && first && old.length > 0 ? { dataWindowMs: Math.max(0, old.at(-1)!.seq - first.seq + 1) * 1000 } : {}),
      });
    }
    const row = { fault, kind, vms, notes };
    this.rows.push(row);
    return row;
  }

  /** After a fault: the controller answers, both hosts are up, every VM runs, heartbeats go on. */
  private async settle(kind: FaultRow['kind']): Promise<void> {
    await waitFor('both hosts up', async () => {
      const hs = await this.c.json<Host[]>(['host', 'list']);
      return hs.length === 2 && hs.every((h) => h.state === 'up') ? true : undefined;
    }, { timeoutMs: 120_000, everyMs: 500 });
    await waitFor('every VM running', async () => {
      for (const vm of VMS) if ((await this.c.json<Vm>(['vm', 'show', vm])).state !== 'running') return undefined;
      return true;
    }, { timeoutMs: 120_000, everyMs: 500 });
    for (const vm of VMS) {
      const rec = await this.c.json<Vm>(['vm', 'show', vm]);
      const s = this.lastSeq(rec.host, vm);
      await waitFor(`${vm} heartbeat after the fault`, async () => (this.lastSeq(rec.host, vm) > s ? true : undefined), { timeoutMs: 60_000, everyMs: 250 });
    }
    // A stale copy found when a cut-off host comes back is killed on its next heartbeat.
    if (kind !== 'control-plane') await sleep(5000);
  }

  // --- the faults ---------------------------------------------------------------------------

  agentSigkill(): Promise<FaultRow> {
    return this.run('agent SIGKILL', 'control-plane', async (notes) => {
      process.kill(this.host('host1').pid, 'SIGKILL');
      await sleep(this.timing.holdMs);
      const out = await this.c.ok(['up']);
      if (!/restarted agent host1/.test(out)) notes.push(`ferry up said: ${out.trim()}`);
    });
  }

  agentSigstop(): Promise<FaultRow> {
    return this.run(`agent SIGSTOP ${this.timing.holdMs / 1000} s`, 'control-plane', async () => {
      const pid = this.host('host1').pid;
      process.kill(pid, 'SIGSTOP');
      try {
        await sleep(this.timing.holdMs);
      } finally {
        process.kill(pid, 'SIGCONT');
      }
    });
  }

  controllerSigstop(): Promise<FaultRow> {
    return this.run(`controller SIGSTOP ${this.timing.ctlPauseMs / 1000} s`, 'control-plane', async () => {
      const pid = this.c.clusterFile().controller.pid;
      process.kill(pid, 'SIGSTOP');
      try {
        await sleep(this.timing.ctlPauseMs);
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      await sleep(8000); // long enough for a watcher that took its pause for silence to act
    });
  }

  controllerSigkill(): Promise<FaultRow> {
    return this.run('controller SIGKILL', 'control-plane', async () => {
      process.kill(this.c.clusterFile().controller.pid, 'SIGKILL');
      await sleep(this.timing.holdMs);
      await this.c.restartController();
      await sleep(8000);
    });
  }

  /**
   * host1's agent SIGKILLed while both VMs are paused for a checkpoint (protected anew, so the
   * first checkpoint starts at once; the capture's hook holds it in the pause). With no agent the
   * guests stay paused; the restarted agent resumes them and replication goes on.
   */
  agentSigkillInCheckpointPause(): Promise<FaultRow> {
    return this.run('agent SIGKILL in a checkpoint pause', 'control-plane', async (notes) => {
      const h1 = this.host('host1');
      const hooks = VMS.map((vm) => pausePaths(join(h1.dataDir, 'vms', vm)));
      for (const vm of VMS) await this.c.ok(['dr', 'unprotect', vm]);
      for (const h of hooks) writeFileSync(h.faultHold, '');
      try {
        for (const vm of VMS) await this.c.ok(['dr', 'protect', vm, '--to', 'dr', '--rpo', '10m']);
        await waitFor('both captures inside their pause', () => (hooks.every((h) => existsSync(h.faultReached)) ? true : undefined), { timeoutMs: 180_000, everyMs: 100 });
        process.kill(h1.pid, 'SIGKILL');
      } finally {
        for (const h of hooks) rmSync(h.faultHold, { force: true });
      }
      const paused = VMS.map((vm) => this.lastSeq('host1', vm));
      await sleep(this.timing.holdMs);
      const stalled = VMS.filter((vm, i) => this.lastSeq('host1', vm) === paused[i]);
      notes.push(`with no agent, ${stalled.length} of ${VMS.length} guests stayed paused for ${this.timing.holdMs / 1000} s`);
      const out = await this.c.ok(['up']);
      if (!/restarted agent host1/.test(out)) notes.push(`ferry up said: ${out.trim()}`);
      await this.waitCheckpoints(1);
      notes.push('a checkpoint of each VM committed after the restart');
    });
  }

  /**
   * host1's fence guard SIGSTOPped and its agent SIGKILLed: nobody on host1 can fence. The VMs
   * must not be started at DR meanwhile; once the guard runs again it fences (its lease ran out
   * long ago), the DR site takes over, and the restarted agent finds its VMs gone.
   */
  guardSigstopAgentSigkill(): Promise<FaultRow> {
    return this.run(`guard SIGSTOP ${this.timing.holdMs / 1000} s + agent SIGKILL`, 'guard-frozen', async (notes) => {
      const h1 = this.host('host1');
      const guard = guardPid(h1.dataDir);
      if (guard === undefined) throw new Error('host1 runs no fence guard');
      process.kill(guard, 'SIGSTOP');
      try {
        process.kill(h1.pid, 'SIGKILL');
        await sleep(this.timing.holdMs);
        const at = await Promise.all(VMS.map(async (vm) => `${vm} on ${(await this.c.json<Vm>(['vm', 'show', vm])).host}`));
        notes.push(`while the guard was frozen: ${at.join(', ')}`);
      } finally {
        process.kill(guard, 'SIGCONT');
      }
      await sleep(8000); // the guard decides, the controller hears of it through host2's guard
      const out = await this.c.ok(['up']);
      if (!/restarted agent host1/.test(out)) notes.push(`ferry up said: ${out.trim()}`);
    });
  }

  /**
   * The wall clock of every Ferry process — controller, agents, fence guards — stepped an hour
   * forward, held, then an hour back, held (libfaketime reads `clockFile`, see setup(); QEMU gets
   * a clean environment and keeps the real clock). The
   * note records what the controller's clock read while stepped (a host's lastSeen), so the row
   * shows the step really happened.
   */
  clockStep(): Promise<FaultRow> {
    const clockFile = this.clockFile;
    return this.run('clock step +1 h, then -1 h', 'control-plane', async (notes) => {
      try {
        for (const [offset, hours] of [['+1h', 1], ['-1h', -1]] as const) {
          writeFileSync(clockFile, `${offset}\n`);
          const seen = await waitFor(`the controller's clock ${offset}`, async () => {
            const h = (await this.c.json<Host[]>(['host', 'list'])).find((x) => x.name === 'host1');
            const skew = h ? Date.parse(h.lastSeen) - Date.now() : NaN;
            return Math.abs(skew - hours * 3_600_000) < 60_000 ? skew : undefined;
          }, { timeoutMs: 30_000, everyMs: 500 });
          notes.push(`stepped ${offset}: the controller's clock read ${Math.round(seen / 60_000)} min off the real one`);
          await sleep(this.timing.holdMs);
        }
      } finally {
        writeFileSync(clockFile, '+0\n');
      }
      await sleep(8000);
    });
  }

  /** After a row that failed the VMs over: each one failed back to host1, running there, so later rows start as set up. */
  async failBackHome(): Promise<void> {
    for (const vm of VMS) {
      if ((await this.c.json<Vm>(['vm', 'show', vm])).host !== 'host1') await this.c.ok(['dr', 'failback', vm], 600_000);
    }
    await waitFor('every VM running on host1 again', async () => {
      for (const vm of VMS) {
        const v = await this.c.json<Vm>(['vm', 'show', vm]);
        if (v.host !== 'host1' || v.state !== 'running') return undefined;
      }
      return true;
    }, { timeoutMs: 300_000, everyMs: 1000 });
  }

  /** The controller's data dir is a small tmpfs (mounted by the test before `ferry up`): fill it. */
  controllerDiskFull(): Promise<FaultRow> {
    return this.run('controller disk full', 'control-plane', async (notes) => {
      const filler = join(this.c.home, 'controller', 'filler');
      const fd = openSync(filler, 'w');
      const mib = Buffer.alloc(1 << 20);
      try {
        for (;;) writeSync(fd, mib);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      } finally {
        closeSync(fd);
      }
      try {
        const r = await this.c.run(['vm', 'create', 'probe-full', '--memory', '64', '--no-start']);
        notes.push(r.code === 0 ? 'a VM create still succeeded on the full disk' : 'a VM create failed on the full disk, as it should');
        await sleep(this.timing.holdMs);
      } finally {
        rmSync(filler, { force: true });
      }
      await sleep(3000);
      await this.c.run(['vm', 'rm', 'probe-full']);
    });
  }

  /** host1's link cut: its agent frozen and its guard's network off, until the VMs run at DR. */
  async hostLinkCut(): Promise<FaultRow> {
    // Replication going on at a 15 s RPO past its first full copy: the data window is what it costs.
    for (const vm of VMS) await this.c.ok(['dr', 'unprotect', vm]);
    await this.protect('15s', 2);
    return this.run('host1 link cut', 'host-cut', async (notes, t0) => {
      const h1 = this.host('host1');
      const cut = fencePaths(h1.dataDir).faultLinkDown;
      writeFileSync(cut, '');
      process.kill(h1.pid, 'SIGSTOP');
      try {
        for (const vm of VMS) {
          await waitFor(`${vm} running at the DR site`, async () => {
            const v = await this.c.json<Vm>(['vm', 'show', vm]);
            return v.host === 'host2' && v.state === 'running' ? true : undefined;
          }, { timeoutMs: 180_000, everyMs: 500 });
        }
        notes.push(`both VMs ran at the DR site ${Math.round((performance.now() - t0) / 1000)} s after the cut`);
        await sleep(3000);
      } finally {
        rmSync(cut, { force: true });
        process.kill(h1.pid, 'SIGCONT');
      }
    });
  }

  /** The last lines of every host's fence guard log and the controller's HA lines: why it did what it did. */
  diagnostics(): string {
    const tail = (f: string, n: number, keep: (l: string) => boolean = () => true): string =>
      existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(keep).slice(-n).join('\n') : `(no ${f})`;
    const out = this.c.clusterFile().agents.map((a) => `-- fence guard of ${a.name}:\n${tail(fencePaths(a.dataDir).log, 15)}`);
    out.push(`-- controller (HA):\n${tail(this.c.clusterFile().controller.log ?? '', 25, (l) => /HA |down|stalled|stale copy|not recorded/.test(l))}`);
    return out.join('\n');
  }

  /** The matrix as printed: one line per fault and VM. */
  table(): string {
    const head = ['fault', 'vm', 'max QEMUs', 'running', 'host', 'same QEMU', 'seq before→after', 'bad', 'seq restarted', 'running again', 'data window'];
    const lines = [head];
    for (const r of this.rows) {
      for (const v of r.vms) {
        lines.push([
          r.fault, v.vm, String(v.maxCopies), v.running ? 'yes' : 'NO', v.host, v.sameQemu ? 'yes' : 'no', `${v.seqBefore}→${v.seqAfter}`, String(v.bad),
          v.seqRestarted ? 'yes' : 'no', v.runningAgainMs !== undefined ? `${(v.runningAgainMs / 1000).toFixed(1)} s` : r.kind === 'control-plane' && v.sameQemu ? 'never stopped' : '-',
          v.dataWindowMs !== undefined ? `${v.dataWindowMs / 1000} s` : r.kind === 'control-plane' && v.sameQemu ? '0' : '-',
        ]);
      }
      for (const n of r.notes) lines.push([r.fault, `note: ${n}`]);
    }
    const widths = head.map((_, i) => Math.max(...lines.filter((l) => l.length === head.length).map((l) => (l[i] ?? '').length)));
    return lines.map((l) => (l.length === head.length ? l.map((c, i) => c.padEnd(widths[i]!)).join('  ') : l.join('  '))).join('\n');
  }
}
