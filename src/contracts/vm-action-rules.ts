// Which actions each VM state allows, with no runtime imports, so that the web console can
// load this very table in the browser (src/web-console) while the controller and the agent enforce
// it (vm-actions.ts adds the typed refusal).
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

