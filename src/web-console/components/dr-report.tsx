// One failover / DR test / failback report: what was done, the data window a real failover
// would lose, the time to a running guest, and each check with its outcome in words — the
// evidence that the DR copy works.
import type { FailoverReport } from '../../contracts/dr.js';
import { Badge } from './badge.js';
import { bytes, duration } from '../../contracts/format.js';

const KIND: Record<FailoverReport['kind'], string> = { test: 'DR test', planned: 'Planned failover', unplanned: 'Failover', failback: 'Failback' };

export function DrReport({ r }: { r: FailoverReport }) {
  const passed = r.checks.filter((c) => c.passed).length;
  return (
    <article class="dr-report" aria-label={`${KIND[r.kind]} of ${r.vm} at ${r.startedAt}`}>
      <header class="row">
        <strong>{KIND[r.kind]}</strong>
        <Badge state={r.outcome} label="Outcome" />
        <span>{r.from} → {r.to}</span>
        <span class="muted">{new Date(r.startedAt).toLocaleString()}</span>
      </header>
      <dl class="facts">
        <div><dt>Checkpoint</dt><dd>#{r.checkpointSeq}</dd></div>
        <div><dt>Data window</dt><dd>{duration(r.dataWindowMs)}</dd></div>
        <div><dt>Time to running</dt><dd>{duration(r.timeToRunningMs)}</dd></div>
        {r.wireBytes !== undefined && <div><dt>On the wire</dt><dd>{bytes(r.wireBytes)}</dd></div>}
        <div><dt>Checks</dt><dd>{passed} of {r.checks.length} passed</dd></div>
      </dl>
      {r.ha && <p class="muted">Started by high availability: {r.ha.reason}</p>}
      {r.error && <p class="error">{r.error.code}: {r.error.message}</p>}
      {r.checks.length > 0 && (
        <ul class="dr-checks">
          {r.checks.map((c) => (
            <li class={c.passed ? 'ok' : 'bad'}>
              <span class="check-mark" aria-hidden="true">{c.passed ? '✓' : '✗'}</span>
              <strong>{c.passed ? 'passed' : 'failed'}</strong> <span class="check-name">{c.name}</span>: <span class="check-detail">{c.detail}</span>
            </li>
          ))}
        </ul>
      )}
    </article>
  );
}
