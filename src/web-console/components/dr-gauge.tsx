// The RPO gauge: the age of a protection's newest checkpoint against its RPO target, as a bar
// whose fill is age/RPO (green under the target, red over) with both numbers in text.
// Zero-loss mode (RPO 0) has no target to fill towards: it shows the age alone.
import { Badge } from './badge.js';
import { Meter } from './balance-meter.js';
import { duration } from '../../contracts/format.js';

export function RpoGauge({ vm, rpoMs, ageMs }: { vm: string; rpoMs: number; ageMs: number | undefined }) {
  if (ageMs === undefined) return <span class="muted">no checkpoint yet</span>;
  if (rpoMs === 0) {
    return (
      <span class="rpo-zero">
        <Badge state="zero-loss" label="RPO mode" /> newest {duration(ageMs)} old
      </span>
    );
  }
  const over = ageMs > rpoMs;
  const text = `${duration(ageMs)} of ${duration(rpoMs)}`;
  return (
    <span class="rpo-gauge">
      <Meter fraction={ageMs / rpoMs} label={`Age of ${vm}'s newest checkpoint against its RPO`} valueText={`${text}${over ? ', over target' : ''}`} tone={over ? 'bad' : 'ok'} />
      <span class={`rpo-text${over ? ' bad' : ''}`}>
        {text}
        {over && <strong> · over</strong>}
      </span>
    </span>
  );
}
