// A progress bar whose width is set from script (the CSP forbids style attributes) and that
// never runs backwards: it keeps the highest percentage it has been given since it mounted.
import { useEffect, useRef } from 'preact/hooks';

export interface ProgressProps {
  /** 0..100 */
  percent: number;
  label: string;
  testid?: string;
}

export function Progress({ percent, label, testid }: ProgressProps) {
  const bar = useRef<HTMLSpanElement>(null);
  const max = useRef(0);
  const p = Math.min(100, Math.max(0, Number.isFinite(percent) ? percent : 0));
  if (p > max.current) max.current = p;
  const shown = max.current;
  useEffect(() => {
    if (bar.current) bar.current.style.width = `${shown}%`;
  }, [shown]);
  return (
    <div class="progress" role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(shown)} data-testid={testid}>
      <span ref={bar} />
    </div>
  );
}
