// Which action each VM state allows: a closed table, checked before anything is done, so a
// forbidden action fails with INVALID_STATE and never half-happens (cf. firecracker's
// action validation). Transitional states (starting, stopping, …) allow nothing: actions on
// one VM are serialized, so callers only see them in status reports.
import { FerryError, type VmState } from '../wire/index.js';

export const VM_ACTIONS = ['start', 'pause', 'resume', 'suspend', 'restore', 'stop', 'resize', 'clone', 'delete'] as const;
export type VmAction = (typeof VM_ACTIONS)[number];

const ALLOWED: Record<VmAction, readonly VmState[]> = {
  start: ['stopped', 'crashed'],
  pause: ['running'],
  resume: ['paused'],
  suspend: ['running', 'paused'],
  restore: ['suspended'],
  // Stopping a suspended VM discards its saved memory; stopping a crashed one clears the error.
  stop: ['running', 'paused', 'suspended', 'crashed'],
  resize: ['running', 'paused'],
  // A running VM is cloned crash-consistently: paused while its disks are copied.
  clone: ['stopped', 'crashed', 'suspended', 'running', 'paused'],
  delete: ['stopped', 'suspended', 'crashed'],
};

export function isAllowed(action: VmAction, state: VmState): boolean {
  return ALLOWED[action].includes(state);
}

export function assertAllowed(action: VmAction, name: string, state: VmState): void {
  if (!isAllowed(action, state)) {
    throw new FerryError('INVALID_STATE', `cannot ${action} vm ${name}: it is ${state}`);
  }
}
