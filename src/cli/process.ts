// PID helpers for `ferry up` and `ferry down`. We only ever signal PIDs we recorded, and a
// zombie (exited but not yet reaped) counts as gone.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 3, after the parenthesised command name (which may itself contain spaces).
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** The process's command line, or undefined if it is gone or unreadable. */
export function cmdlineOf(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((s) => s.length > 0);
  } catch {
    return undefined;
  }
}

/** Is `pid` alive and running a command line that contains `needle` (guards against PID reuse)? */
export function isAliveRunning(pid: number, needle: string): boolean {
  if (!isAlive(pid)) return false;
  const cmd = cmdlineOf(pid);
  return cmd === undefined ? true : cmd.some((a) => a.includes(needle));
}

export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await sleep(100);
  }
  return true;
}

/** SIGTERM, wait up to `graceMs`, then SIGKILL and wait again. Returns true once it is gone. */
export async function terminate(pid: number, graceMs: number): Promise<boolean> {
  if (!isAlive(pid)) return true;
  signal(pid, 'SIGTERM');
  if (await waitForExit(pid, graceMs)) return true;
  signal(pid, 'SIGKILL');
  return waitForExit(pid, 5000);
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}
