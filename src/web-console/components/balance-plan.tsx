// "Plan now" and "Apply": the planner's proposal for the cluster as it is (each move with its
// reason, predicted gain and cost, and the notes on what it would not do), and a confirmed run
// that carries a fresh plan out by live migration (a `balance.run` task).
import { useState } from 'preact/hooks';
import type { Task } from '../../contracts/controller-api.js';
import type { BalancePlan } from '../../contracts/balance.js';
import { api, API } from '../api.js';
import { ask } from './confirm.js';
import { remember, TaskStatus } from './task-status.js';
import { bytes, duration } from '../../contracts/format.js';

const vol = (v: number): string => v.toFixed(2);
const spread = (v: number): string => v.toFixed(3);

export function BalancePlanPanel() {
  const [plan, setPlan] = useState<BalancePlan | undefined>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const [taskId, setTaskId] = useState<string | undefined>();

  const planNow = async (): Promise<void> => {
    setBusy(true);
    try {
      setPlan(await api.get<BalancePlan>(`${API}/balance/plan`));
      setError(undefined);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const apply = async (): Promise<void> => {
    const n = plan?.moves.length;
    const ok = await ask('Apply a balancing plan now?', {
      body: (
        <p>
          The balancer plans again for the cluster as it is now and carries the plan out by live migration{n !== undefined ? ` (the last plan had ${n} move${n === 1 ? '' : 's'})` : ''}, within the
          policy's limits. Each move is an ordinary migration you can follow and abort under Migrations.
        </p>
      ),
      confirm: 'Apply plan',
    });
    if (!ok) return;
    try {
      const t = await api.post<Task>(`${API}/balance/apply`);
      setTaskId(remember(t).id);
      setError(undefined);
    } catch (e) {
      setError((e as Error).message);
    }
  };

  return (
    <section class="panel balance-plan" aria-labelledby="balance-plan-title">
      <div class="row">
        <h2 id="balance-plan-title">Plan</h2>
        <span class="spacer" />
        <button type="button" onClick={() => void planNow()} disabled={busy}>{busy ? 'Planning…' : 'Plan now'}</button>
        <button type="button" class="primary" onClick={() => void apply()}>Apply…</button>
      </div>
      <div aria-live="polite">
        {error && <p class="error" role="alert">{error}</p>}
        {taskId && <TaskStatus id={taskId} label="Balancing run" done="plan carried out" />}
        {!plan && !taskId && <p class="muted">Plan now shows what the balancer would do for the cluster as it is, and why; it moves nothing. Apply plans afresh and carries the plan out.</p>}
        {plan && (
          <>
            <p>
              Mode {plan.mode}; hotspots: {plan.hotspots.length ? plan.hotspots.join(', ') : 'none'}; imbalance {spread(plan.imbalanceBefore)} → {spread(plan.imbalanceAfter)}
              {plan.powerOff.length > 0 && <>; could power off: {plan.powerOff.join(', ')}</>}.
            </p>
            {plan.moves.length === 0 ? (
              <p class="muted">No move: the cluster is balanced enough, or nothing fits (see the notes).</p>
            ) : (
              <table class="balance-moves">
                <thead>
                  <tr>
                    <th scope="col">VM</th>
                    <th scope="col">From → to</th>
                    <th scope="col">Kind</th>
                    <th scope="col">Reason</th>
                    <th scope="col" class="num">Source volume</th>
                    <th scope="col" class="num">Imbalance</th>
                    <th scope="col" class="num">Cost</th>
                  </tr>
                </thead>
                <tbody>
                  {plan.moves.map((m) => (
                    <tr>
                      <td>{m.vm}</td>
                      <td>{m.from} → {m.to}</td>
                      <td>{m.kind}{m.step !== undefined ? ` step ${m.step}` : ''}</td>
                      <td>{m.reason}</td>
                      <td class="num">{vol(m.gain.fromVolumeBefore)} → {vol(m.gain.fromVolumeAfter)}</td>
                      <td class="num">{spread(m.gain.imbalanceBefore)} → {spread(m.gain.imbalanceAfter)}</td>
                      <td class="num">{bytes(m.cost.bytes)}, {duration(m.cost.seconds * 1000)}<div class="muted">{m.cost.learned ? 'learned from its migrations' : 'estimated'}</div></td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
            {plan.notes.length > 0 && (
              <>
                <h3>Notes</h3>
                <ul class="balance-notes">{plan.notes.map((n) => <li>{n}</li>)}</ul>
              </>
            )}
          </>
        )}
      </div>
    </section>
  );
}
