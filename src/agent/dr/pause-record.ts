// A checkpoint's pause, recorded on disk: `<vm dir>/checkpoint-pause.json` is written before
// the capture's `stop` and removed after its `cont`. A file that is there when an agent starts
// means the pause was a checkpoint's and nobody is left to end it (the agent was killed inside
// it), so the restarted agent resumes the guest (recover.ts). A pause a user asked for, or a
// planned failover's last checkpoint (which leaves the guest paused for the controller to move
// it), writes no record and is never undone by a restart.
//
// Test hook (only with FERRY_FAULT_HOOKS=1): while `<vm dir>/fault-hold-checkpoint-pause`
// exists, a capture waits inside its pause and says so in `<vm dir>/fault-in-checkpoint-pause`,
// so a test can kill the agent at that very moment.
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeJsonAtomic } from '../vm-dir.js';
import type { VmRuntime } from '../vm-runtime.js';

const HOOK_POLL_MS = 100;

export interface PausePaths {
  record: string;
  faultHold: string;
  faultReached: string;
}

export function pausePaths(vmDir: string): PausePaths {
  return {
    record: join(vmDir, 'checkpoint-pause.json'),
    faultHold: join(vmDir, 'fault-hold-checkpoint-pause'),
    faultReached: join(vmDir, 'fault-in-checkpoint-pause'),
  };
}

/** Before `stop`: the pause about to begin is this checkpoint's (its work dir named, for the logs). */
export function notePause(vm: VmRuntime, workDir: string): void {
  writeJsonAtomic(pausePaths(vm.paths.dir).record, { workDir, agentPid: process.pid });
}

/** After `cont`: the guest runs again. */
export function clearPause(vm: VmRuntime): void {
  rmSync(pausePaths(vm.paths.dir).record, { force: true });
}

export function pausedByCheckpoint(vm: VmRuntime): boolean {
  return existsSync(pausePaths(vm.paths.dir).record);
}

/** The test hook (see the header); returns at once unless FERRY_FAULT_HOOKS=1 and the hold file exists. */
export async function faultHoldInPause(vm: VmRuntime, signal: AbortSignal): Promise<void> {
  const p = pausePaths(vm.paths.dir);
  if (process.env.FERRY_FAULT_HOOKS !== '1' || !existsSync(p.faultHold)) return;
  writeFileSync(p.faultReached, `${process.pid}\n`);
  try {
    while (existsSync(p.faultHold) && !signal.aborted) await sleep(HOOK_POLL_MS);
  } finally {
    rmSync(p.faultReached, { force: true });
  }
}
