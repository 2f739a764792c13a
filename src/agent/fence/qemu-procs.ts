// Finding and killing this host's QEMU processes by VM uuid, straight from /proc — the guard
// cannot ask the agent (it may be dead or stopped). A process counts as one of ours only if its
// command line carries the uuid and a path under this data dir's vms/ (-pidfile): on one machine
// several "hosts" of a local cluster run QEMUs of the same VM (a DR copy has the same uuid).
import { readdirSync, readFileSync } from 'node:fs';
import { vmsRoot } from '../vm-dir.js';
import { readProcStat } from '../proc.js';

function cmdline(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return undefined;
  }
}

function live(pid: number): boolean {
  const st = readProcStat(pid);
  return st !== undefined && st.state !== 'Z' && st.state !== 'X';
}

/** Is `pid` a live QEMU of VM `uuid` started for `dataDir`? */
export function isHostQemu(dataDir: string, pid: number, uuid: string): boolean {
  const args = cmdline(pid);
  const root = `${vmsRoot(dataDir)}/`;
  return !!args && args.includes(uuid) && args.some((a) => a.startsWith(root)) && live(pid);
}

/** Every live QEMU of `dataDir` whose uuid is in `uuids`, by uuid. */
export function scanHostQemus(dataDir: string, uuids: ReadonlySet<string>): Map<string, number[]> {
  const out = new Map<string, number[]>();
  if (uuids.size === 0) return out;
  const root = `${vmsRoot(dataDir)}/`;
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    const args = cmdline(pid);
    if (!args || !args.some((a) => a.startsWith(root))) continue;
    const uuid = args.find((a) => uuids.has(a));
    if (uuid === undefined || !live(pid)) continue;
    out.set(uuid, [...(out.get(uuid) ?? []), pid]);
  }
  return out;
}

/** SIGKILL every pid in one synchronous loop: no kill waits for another. Returns those signalled. */
export function killAllNow(pids: readonly number[]): number[] {
  const done: number[] = [];
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
      done.push(pid);
    } catch {
      // already gone
    }
  }
  return done;
}

/** Resolves once none of `pids` is alive (zombies count as dead), or false after `timeoutMs`. */
export async function waitAllGone(pids: readonly number[], timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (!pids.some(live)) return true;
    if (performance.now() >= deadline || signal?.aborted) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
}
