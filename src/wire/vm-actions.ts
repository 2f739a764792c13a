// Which actions each VM state allows: the closed set of actions and a pure check that refuses
// the forbidden ones with a typed INVALID_STATE error. Both sides enforce this one table: the
// controller before it creates a task (an immediate refusal), the agent before it acts (the
// authority, since it sees the VM's real state).
import { FerryError } from './errors.js';
import type { VmState } from './vm-spec.js';

export const VM_ACTIONS = ['start', 'stop', 'pause', 'resume', 'suspend', 'restore', 'clone', 'resize', 'delete'] as const;
export type VmAction = (typeof VM_ACTIONS)[number];

/**
 * Transitional states (starting, stopping, suspending,
 * restoring) allow nothing: the agent serializes actions on a VM, so they are only ever seen
 * in a status report taken mid-action. Stopping a suspended VM discards its saved memory; a
 * running VM is cloned crash-consistently (the agent pauses it while its disks are copied);
 * `delete` needs no QEMU process.
 */
export const ALLOWED: Readonly<Record<VmAction, readonly VmState[]>> = {
  start: ['stopped', 'crashed'],
  stop: ['running', 'paused', 'suspended', 'crashed'],
  pause: ['running'],
  resume: ['paused'],
  suspend: ['running', 'paused'],
  restore: ['suspended'],
  clone: ['stopped', 'running', 'paused', 'suspended', 'crashed'],
  resize: ['running', 'paused'],
  delete: ['stopped', 'suspended', 'crashed'],
};

export function isAllowed(action: VmAction, state: VmState): boolean {
  return ALLOWED[action].includes(state);
}

const HINT: Partial<Record<VmState, string>> = {
  running: 'stop it first',
  paused: 'resume or stop it first',
  suspended: 'restore it first',
  stopped: 'start it first',
  starting: 'wait until it has started (or stop it once it has)',
  stopping: 'wait until it has stopped',
  suspending: 'wait until it is suspended',
  restoring: 'wait until it is restored',
  crashed: 'start or delete it',
};

export function assertAllowed(action: VmAction, vm: { name: string; state: VmState }): void {
  if (isAllowed(action, vm.state)) return;
  const needs = ALLOWED[action].join(' or ');
  const hint = action === 'restore' ? 'only a suspended VM can be restored' : HINT[vm.state];
  throw new FerryError('INVALID_STATE', `cannot ${action} VM ${vm.name}: it is ${vm.state} (${action} needs ${needs})${hint ? `; ${hint}` : ''}`);
}
