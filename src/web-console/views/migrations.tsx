// Migrations: the ones running now, each with a progress bar that never runs backwards, its step,
// round, dirty rate, remaining bytes and ETA and an Abort button; below, the history with the
// three numbers every migration reports (downtime, total time, bytes on the wire).
// Each row reads only its own record's signal, so a `migration` event re-renders one row.
import { useComputed } from '@preact/signals';
import { useState } from 'preact/hooks';
import { api, API } from '../api.js';
import { ask } from '../components/confirm.js';
import { Badge } from '../components/badge.js';
import { bytes, duration, rate } from '../../contracts/format.js';
import { Progress } from '../components/progress.js';
import * as store from '../store.js';
import { href } from '../router.js';

/** Highest percent seen per migration: the bar never moves back, even if an event arrives late. */
const maxPercent = new Map<string, number>();

const at = (iso: string | undefined): string => (iso ? new Date(iso).toLocaleString() : '–');
const vmLink = (vm: string) => <a href={href({ view: 'vm', name: vm })}>{vm}</a>;

function RunningMigration({ id }: { id: string }) {
  const r = store.migrations.get(id)?.value;
  const live = store.migrationLive.get(id)?.value;
  const [error, setError] = useState<string | undefined>();
  const [aborting, setAborting] = useState(false);
  if (!r) return null;
  const percent = Math.max(maxPercent.get(id) ?? 0, live?.percent ?? 0);
  maxPercent.set(id, percent);

  const abort = async (): Promise<void> => {
    const task = store.tasks.values().find((t) => t.kind === 'vm.migrate' && t.state === 'running' && t.target === `vm/${r.vm}`);
    if (!task) {
      setError(`No running migration task for ${r.vm} (it may have just finished).`);
      return;
    }
    const ok = await ask(`Abort the migration of ${r.vm}?`, {
      body: <p>The copy on <strong>{r.to}</strong> is discarded and {r.vm} keeps running on <strong>{r.from}</strong>, untouched — unless the migration has already reached commitment, in which case it completes.</p>,
      confirm: 'Abort migration',
      danger: true,
    });
    if (!ok) return;
    setAborting(true);
    try {
      await api.post(`${API}/tasks/${encodeURIComponent(task.id)}/abort`);
      setError(undefined);
    } catch (e) {
      setError((e as Error).message);
      setAborting(false);
    }
  };

  return (
    <li class="panel migration-running">
      <div class="row migration-head">
        <strong>{vmLink(r.vm)}</strong>
        <span>{r.from} → {r.to}</span>
        <span class="muted">{r.strategy} · {r.transport}</span>
        <span class="spacer" />
        <button type="button" class="danger" onClick={() => void abort()} disabled={aborting}>{aborting ? 'Aborting…' : 'Abort'}</button>
      </div>
      <div class="row">
        <Progress percent={percent} label={`Migration of ${r.vm}`} testid="migration-progress" />
        <span class="num">{Math.round(percent)} %</span>
      </div>
      <dl class="facts">
        <div><dt>Step</dt><dd>{r.step}</dd></div>
        <div><dt>Round</dt><dd>{live?.rounds ?? r.rounds}</dd></div>
        <div><dt>Dirty rate</dt><dd>{rate(live?.dirtyRateBytesPerSec ?? r.dirtyRateBytesPerSec)}</dd></div>
        <div><dt>Remaining</dt><dd>{live ? bytes(live.remainingBytes) : '–'}</dd></div>
        <div><dt>ETA</dt><dd>{live?.etaMs !== undefined ? duration(live.etaMs) : '–'}</dd></div>
        <div><dt>Predicted downtime</dt><dd>{duration(r.predictedDowntimeMs)}</dd></div>
        <div><dt>Started</dt><dd>{at(r.startedAt)}</dd></div>
      </dl>
      {r.switchedToPostcopy && <p class="muted">Switched to post-copy: the VM runs on {r.to}, pages still arriving.</p>}
      {error && <p class="error" role="alert">{error}</p>}
    </li>
  );
}

function HistoryRow({ id }: { id: string }) {
  const r = store.migrations.get(id)?.value;
  if (!r) return null;
  return (
    <tr data-testid={`migration-row-${id}`}>
      <td>{vmLink(r.vm)}</td>
      <td>{r.from} → {r.to}</td>
      <td>{r.strategy}{r.switchedToPostcopy ? ' → postcopy' : ''}</td>
      <td>{r.transport}</td>
      <td>
        <Badge state={r.outcome} label="Outcome" />
        {r.error && <div class="error migration-error">{r.error.code}: {r.error.message}</div>}
      </td>
      <td class="num">{r.outcome === 'succeeded' ? duration(r.downtimeMs) : '–'}</td>
      <td class="num">{r.observedDowntimeMs !== undefined ? duration(r.observedDowntimeMs) : '–'}</td>
      <td class="num">{duration(r.totalMs)}</td>
      <td class="num">{bytes(r.memoryBytes)}</td>
      <td class="num">{bytes(r.wireBytes)}</td>
      <td>{at(r.startedAt)}</td>
    </tr>
  );
}

export function MigrationsView() {
  // Ids joined into one string, so the lists re-render only when a migration starts or ends,
  // not on every progress event.
  const running = useComputed(() => store.migrations.names.value.filter((id) => store.migrations.get(id)?.value.outcome === 'running').join('\n'));
  const finished = useComputed(() => store.migrations.names.value.filter((id) => store.migrations.get(id)?.value.outcome !== 'running').join('\n'));
  const runIds = running.value ? running.value.split('\n') : [];
  const doneIds = finished.value ? finished.value.split('\n') : [];
  return (
    <section class="migrations" aria-labelledby="migrations-title">
      <h1 id="migrations-title">Migrations</h1>
      <h2>Running</h2>
      {runIds.length === 0 ? (
        <p class="muted">No migration is running. Start one from a VM's page.</p>
      ) : (
        <ul class="migration-list">
          {runIds.map((id) => <RunningMigration key={id} id={id} />)}
        </ul>
      )}
      <h2>History</h2>
      {doneIds.length === 0 ? (
        <p class="muted">No migration has finished yet.</p>
      ) : (
        <div class="panel table-wrap">
          <table class="migration-history">
            <thead>
              <tr>
                <th scope="col">VM</th>
                <th scope="col">From → to</th>
                <th scope="col">Strategy</th>
                <th scope="col">Transport</th>
                <th scope="col">Outcome</th>
                <th scope="col" class="num" title="Pause as QEMU reports it">Downtime</th>
                <th scope="col" class="num" title="Largest gap in the guest's heartbeat around the switch">Observed</th>
                <th scope="col" class="num">Total time</th>
                <th scope="col" class="num">Memory</th>
                <th scope="col" class="num">On the wire</th>
                <th scope="col">Started</th>
              </tr>
            </thead>
            <tbody>{doneIds.map((id) => <HistoryRow key={id} id={id} />)}</tbody>
          </table>
        </div>
      )}
    </section>
  );
}
