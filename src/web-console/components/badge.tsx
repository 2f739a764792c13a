// A state badge: the state in words, coloured by the `state-*` classes of app.css (colour is
// never the only signal). `label` names what the state is of, for screen readers.
import type { ComponentChildren } from 'preact';

export interface BadgeProps {
  /** e.g. `running`, `up`, `failed`; also picks the colour (class `state-<state>`). */
  state: string;
  /** What it is the state of, read out as "VM state: running". */
  label?: string;
  children?: ComponentChildren;
}

export function Badge({ state, label, children }: BadgeProps) {
  const cls = `badge state-${state.replace(/[^a-z0-9-]/gi, '-').toLowerCase()}`;
  return (
    <span class={cls} title={label ? `${label}: ${state}` : undefined}>
      {label && <span class="visually-hidden">{label}: </span>}
      {children ?? state}
    </span>
  );
}
