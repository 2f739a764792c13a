// A VM's lifecycle actions as buttons: start, stop (optionally forced), pause, resume, suspend,
// restore, clone (name, linked), resize (balloon target) and delete (type the name to confirm).
// A button is disabled when the VM's state does not allow its action (the same table the
// controller and agent enforce, src/contracts/vm-action-rules.ts, loaded in the browser as it is)
// or while a task is working on the VM. Each action shows its
// task's progress and its result or error inline.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Task, Vm } from '../../contracts/controller-api.js';
import { isAllowed, type VmAction } from '../../contracts/vm-action-rules.js';
import type { VmState } from '../../contracts/vm-spec.js';
import { api, vmPath } from '../api.js';
import { remember, TaskStatus } from './task-status.js';

export const allowed = (a: VmAction, s: VmState): boolean => isAllowed(a, s);

const TITLES: Record<VmAction, string> = { start: 'Start', stop: 'Stop', pause: 'Pause', resume: 'Resume', suspend: 'Suspend', restore: 'Restore', clone: 'Clone', resize: 'Resize', delete: 'Delete' };

export interface VmActionsProps {
  vm: Vm;
  /** A task is already working on this VM. */
  busy: boolean;
  /** Called once the VM's delete task has been accepted. */
  onDeleting?: (taskId: string) => void;
}

export function VmActions({ vm, busy, onDeleting }: VmActionsProps) {
  const [last, setLast] = useState<{ id: string; action: VmAction } | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [force, setForce] = useState(false);
  const [cloneName, setCloneName] = useState('');
  const [linked, setLinked] = useState(false);
  const [memory, setMemory] = useState(String(vm.spec.memoryMiB));
  const [deleting, setDeleting] = useState(false);
  const [typed, setTyped] = useState('');
  const confirmInput = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (deleting) confirmInput.current?.focus();
  }, [deleting]);

  const can = (a: VmAction): boolean => !busy && allowed(a, vm.state);
  const run = async (action: VmAction, body: unknown = {}): Promise<void> => {
    setError(undefined);
    try {
      const t = action === 'delete' ? await api.del<Task>(vmPath(vm.name)) : await api.post<Task>(vmPath(vm.name, `/${action}`), body);
      remember(t);
      setLast({ id: t.id, action });
      if (action === 'delete') onDeleting?.(t.id);
    } catch (err) {
      setError(`${TITLES[action]}: ${(err as Error).message}`);
    }
  };
  const simple = (a: VmAction) => (
    <button type="button" data-testid={`vm-${a}`} disabled={!can(a)} onClick={() => void run(a)}>
      {TITLES[a]}
    </button>
  );

  return (
    <section class="panel vm-actions" aria-labelledby="actions-title">
      <h3 id="actions-title">Actions</h3>
      <div class="row">
        {simple('start')}
        <span class="group">
          <button type="button" data-testid="vm-stop" disabled={!can('stop')} onClick={() => void run('stop', force ? { force: true } : {})}>
            {force ? 'Force stop' : 'Stop'}
          </button>
          <label class="check"><input type="checkbox" checked={force} onChange={(e) => setForce((e.target as HTMLInputElement).checked)} /> force</label>
        </span>
        {simple('pause')}
        {simple('resume')}
        {simple('suspend')}
        {simple('restore')}
      </div>
      <form class="row" onSubmit={(e) => (e.preventDefault(), void run('clone', { name: cloneName.trim(), ...(linked ? { linked: true } : {}) }))}>
        <label>Clone as <input data-testid="clone-name" required pattern="[a-z][a-z0-9\-]{0,62}" title="lower-case letters, digits and -, starting with a letter" value={cloneName} onInput={(e) => setCloneName((e.target as HTMLInputElement).value)} /></label>
        <label class="check"><input type="checkbox" data-testid="clone-linked" checked={linked} onChange={(e) => setLinked((e.target as HTMLInputElement).checked)} /> linked (layered on a frozen base)</label>
        <button type="submit" data-testid="vm-clone" disabled={!can('clone')}>Clone</button>
      </form>
      <form class="row" onSubmit={(e) => (e.preventDefault(), void run('resize', { memoryMiB: Number(memory) }))}>
        <label>Memory (MiB) <input data-testid="resize-memory" type="number" min={32} max={vm.spec.memoryMiB} required value={memory} onInput={(e) => setMemory((e.target as HTMLInputElement).value)} /></label>
        <button type="submit" data-testid="vm-resize" disabled={!can('resize')}>Resize</button>
        <span class="muted">balloon target, at most {vm.spec.memoryMiB} MiB</span>
      </form>
      <div class="row">
        {!deleting ? (
          <button type="button" class="danger" data-testid="vm-delete" disabled={!can('delete')} onClick={() => (setTyped(''), setDeleting(true))}>
            Delete…
          </button>
        ) : (
          <form class="row delete-confirm" onSubmit={(e) => (e.preventDefault(), typed === vm.name && (setDeleting(false), void run('delete')))}>
            <label>Type <strong>{vm.name}</strong> to delete it and its disks <input ref={confirmInput} data-testid="delete-confirm-name" value={typed} onInput={(e) => setTyped((e.target as HTMLInputElement).value)} autoComplete="off" /></label>
            <button type="submit" class="danger" data-testid="delete-confirm" disabled={typed !== vm.name || !can('delete')}>Delete {vm.name}</button>
            <button type="button" onClick={() => setDeleting(false)}>Cancel</button>
          </form>
        )}
        {!allowed('delete', vm.state) && <span class="muted">stop it to delete it</span>}
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      {last && <TaskStatus key={last.id} id={last.id} label={TITLES[last.action]} />}
    </section>
  );
}
