// What a failover report checks, as pure functions of what was seen: the restored guest's
// heartbeat (`ferry-heartbeat seq=N bad=M`, contracts/heartbeat.ts) must continue from the
// checkpoint's counter, never from zero, with its memory re-check at bad=0; a planned switch
// must lose nothing (the source's last heartbeat is no newer than the checkpoint's).
import type { FailoverReport } from '../../contracts/dr.js';
import type { Heartbeat } from '../../contracts/heartbeat.js';
import { VM_NAME_PATTERN } from '../../contracts/vm-spec.js';
import { seconds } from '../../contracts/format.js';

export type Check = FailoverReport['checks'][number];

/** The first and the latest heartbeat seen on the restored VM's console. */
export interface Beats {
  first: Heartbeat;
  last: Heartbeat;
}

export function guestChecks(guestSeq: number | undefined, seen: Beats | undefined, waitedMs: number): Check[] {
  if (!seen) return [{ name: 'heartbeat', passed: false, detail: `no heartbeat line on the console within ${seconds(waitedMs)} of the restore` }];
  const { first, last } = seen;
  const heartbeat: Check =
    guestSeq === undefined
      ? { name: 'heartbeat', passed: true, detail: `first heartbeat seq=${first.seq}; the checkpoint recorded no counter to compare it with` }
      : { name: 'heartbeat', passed: first.seq >= guestSeq, detail: `first heartbeat seq=${first.seq}; the checkpoint was taken at seq=${guestSeq}` };
  return [heartbeat, { name: 'memory', passed: last.bad === 0, detail: `bad=${last.bad} at seq=${last.seq}` }];
}

/** For a VM without the demo guest: no heartbeat to read, only the agent's word. */
export function stateCheck(state: string): Check {
  return { name: 'running', passed: state === 'running', detail: `not the demo guest (no heartbeat to read): the agent reports it ${state}` };
}

/**
 * Planned switch: the guest must go on at the destination right after the last heartbeat it
 * printed at the source (the source stayed paused after the final capture). A first heartbeat
 * at the destination at or below the source's last would mean seconds of guest run time lost.
 * Returns the check and the data window measured (0 when nothing was lost).
 */
export function nothingLost(sourceLastSeq: number | undefined, destFirstSeq: number | undefined): { check: Check; dataWindowMs: number } {
  if (sourceLastSeq === undefined || destFirstSeq === undefined) {
    return { check: { name: 'nothing lost', passed: true, detail: 'not measured (no heartbeat on both sides); the VM stayed paused after the final capture' }, dataWindowMs: 0 };
  }
  const lost = Math.max(0, sourceLastSeq + 1 - destFirstSeq);
  return {
    check: { name: 'nothing lost', passed: lost === 0, detail: `the last heartbeat at the source was seq=${sourceLastSeq}, the first at the destination seq=${destFirstSeq}` },
    dataWindowMs: lost * 1000,
  };
}

const MAX_NAME = 63; // VM_NAME_PATTERN allows 1 + 62 characters

/** `web-drtest-3`; the VM's part is shortened when the whole would not be a valid VM name. */
export function testCopyName(vm: string, n: number): string {
  const suffix = `-drtest-${n}`;
  const name = `${vm.slice(0, MAX_NAME - suffix.length).replace(/-+$/, '')}${suffix}`;
  if (!new RegExp(VM_NAME_PATTERN).test(name)) throw new Error(`cannot name a test copy of ${vm}`);
  return name;
}
