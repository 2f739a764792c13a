// Facts about processes from /proc. A PID alone proves nothing (PIDs are reused), so a QEMU
// process counts as ours only if its command line carries the VM's uuid. Zombies count as
// dead: a daemonized QEMU is reparented to PID 1, which may be slow to reap it.
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

let clockTicks: number | undefined;

/** USER_HZ for /proc/PID/stat times; 100 on every Linux we run on, asked once anyway. */
export function clockTicksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number.parseInt(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 2000 }).trim(), 10) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

interface ProcStat {
  state: string;
  utime: number;
  stime: number;
}

export function readProcStat(pid: number): ProcStat | undefined {
  try {
    const raw = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    const rest = raw.slice(raw.lastIndexOf(')') + 2).split(' ');
    return { state: rest[0] ?? '?', utime: Number(rest[11]), stime: Number(rest[12]) };
  } catch {
    return undefined;
  }
}

export function isOurQemu(pid: number | undefined, uuid: string): pid is number {
  if (pid === undefined) return false;
  const st = readProcStat(pid);
  if (!st || st.state === 'Z' || st.state === 'X') return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(uuid);
  } catch {
    return false;
  }
}

export function cpuSeconds(pid: number): number | undefined {
  const st = readProcStat(pid);
  return st ? (st.utime + st.stime) / clockTicksPerSecond() : undefined;
}

export function rssBytes(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

export function killPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}
