// Which actions each VM state allows: the closed set of actions and a pure check that refuses
// the forbidden ones with a typed INVALID_STATE error. Both sides enforce this one table: the
// controller before it creates a task (an immediate refusal), the agent before it acts (the
// authority, since it sees the VM's real state).
import { FerryError } from './errors.js';
import type { VmState } from './vm-spec.js';

export { VM_ACTIONS, ALLOWED, isAllowed, type VmAction } from './vm-action-rules.js';
import { ALLOWED, isAllowed, type VmAction } from './vm-action-rules.js';

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
