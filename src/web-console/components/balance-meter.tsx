// A level shown as a bar: a host's CPU/net/memory use, a checkpoint's age against its RPO. Unlike
// a task's progress (components/progress.tsx) a level goes down as well as up, and its fill is
// coloured by how it stands against a limit (`ok` / `bad`); the number is always in text too.
// The width is set from script: the CSP's `style-src 'self'` blocks style attributes.
import { useLayoutEffect, useRef } from 'preact/hooks';

export interface MeterProps {
  /** 0..1 of the bar's length; clamped. */
  fraction: number;
  /** What it measures, for screen readers, e.g. "CPU of host1". */
  label: string;
  /** The value in words, e.g. "12 s of 30 s". */
  valueText: string;
  /** `ok` or `bad` colours the fill. */
  tone?: 'ok' | 'bad';
}

export function Meter({ fraction, label, valueText, tone }: MeterProps) {
  const fill = useRef<HTMLSpanElement>(null);
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  useLayoutEffect(() => {
    if (fill.current) fill.current.style.width = `${(f * 100).toFixed(2)}%`;
  }, [f]);
  return (
    <div class={`progress meter${tone ? ` ${tone}` : ''}`} role="meter" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(f * 100)} aria-valuetext={valueText}>
      <span ref={fill} />
    </div>
  );
}
