// Confirmation for actions that change or destroy something: a native <dialog> (modal, focus
// kept inside, Escape cancels), answering a promise. `ask` shows one; the shell renders <ConfirmHost/>.
import { signal } from '@preact/signals';
import { useEffect, useRef } from 'preact/hooks';
import type { ComponentChildren } from 'preact';

interface Ask {
  title: string;
  body?: ComponentChildren;
  confirm: string;
  danger?: boolean;
  resolve(ok: boolean): void;
}

const current = signal<Ask | undefined>(undefined);

export function ask(title: string, opts: { body?: ComponentChildren; confirm?: string; danger?: boolean } = {}): Promise<boolean> {
  return new Promise((resolve) => {
    current.value = { title, confirm: opts.confirm ?? 'Confirm', ...(opts.body !== undefined ? { body: opts.body } : {}), ...(opts.danger ? { danger: true } : {}), resolve };
  });
}

export function ConfirmHost() {
  const ref = useRef<HTMLDialogElement>(null);
  const a = current.value;
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (a && !d.open) d.showModal();
    if (!a && d.open) d.close();
  }, [a]);
  const answer = (ok: boolean): void => {
    a?.resolve(ok);
    current.value = undefined;
  };
  return (
    <dialog ref={ref} class="confirm" aria-labelledby="confirm-title" onCancel={(e) => (e.preventDefault(), answer(false))}>
      {a && (
        <form method="dialog" onSubmit={(e) => (e.preventDefault(), answer(true))}>
          <h2 id="confirm-title">{a.title}</h2>
          {a.body && <div class="confirm-body">{a.body}</div>}
          <div class="actions">
            <button type="button" onClick={() => answer(false)}>Cancel</button>
            <button type="submit" class={a.danger ? 'danger' : 'primary'} autoFocus>{a.confirm}</button>
          </div>
        </form>
      )}
    </dialog>
  );
}
