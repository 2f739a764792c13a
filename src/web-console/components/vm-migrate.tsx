// Migrating one VM from its page: pick a target, see the planner's prediction first (a dry run:
// every candidate strategy with its predicted downtime, total time and bytes, and the one it
// chose), then confirm to start; while it runs, live progress from the `migration` events (a
// bar that never goes backwards, round, dirty rate, ETA), and the result when it ends.
import { computed } from '@preact/signals';
import { useMemo, useRef, useState } from 'preact/hooks';
import type { Task, Vm } from '../../contracts/controller-api.js';
import type { MigrateRequest, MigrationPlan, MigrationRecord, MigrationStrategy } from '../../contracts/migration.js';
import { api, vmPath } from '../api.js';
import * as store from '../store.js';
import { Badge } from './badge.js';
import { bytes, duration, rate } from '../../contracts/format.js';
import { Progress } from './progress.js';
import { remember, TaskStatus } from './task-status.js';

function TargetOptions({ vm }: { vm: Vm }) {
  const up = store.hosts.names.value.map((n) => store.hosts.get(n)?.value).filter((h) => h && h.state === 'up' && h.name !== vm.host);
  const same = up.filter((h) => h!.site === vm.site);
  const other = up.filter((h) => h!.site !== vm.site);
  return (
    <>
      <option value="">choose a host…</option>
      {same.length > 0 && <optgroup label={`Site ${vm.site}`}>{same.map((h) => <option value={h!.name}>{h!.name}</option>)}</optgroup>}
      {other.length > 0 && <optgroup label="Other sites">{other.map((h) => <option value={h!.name}>{`${h!.name} (${h!.site})`}</option>)}</optgroup>}
    </>
  );
}

function Plan({ plan }: { plan: MigrationPlan }) {
  return (
    <div class="migrate-plan" aria-labelledby="plan-title">
      <h4 id="plan-title">
        Planner's prediction: <strong>{plan.chosen.strategy}</strong> over <strong>{plan.transport}</strong>
      </h4>
      <p class="muted">
        {bytes(plan.memoryBytes)} of memory, dirtied at {rate(plan.dirtyRateBytesPerSec)}; link {rate(plan.linkBytesPerSec)}, RTT {duration(plan.rttMs)}; max downtime {duration(plan.maxDowntimeMs)}.
      </p>
      <table>
        <caption class="visually-hidden">Candidate strategies</caption>
        <thead>
          <tr><th scope="col">Strategy</th><th scope="col" class="num">Predicted downtime</th><th scope="col" class="num">Predicted total</th><th scope="col" class="num">Predicted bytes</th><th scope="col">Why</th></tr>
        </thead>
        <tbody>
          {plan.candidates.map((c) => (
            <tr class={c.strategy === plan.chosen.strategy ? 'chosen' : undefined}>
              <td>{c.strategy}{c.strategy === plan.chosen.strategy && <> <Badge state="chosen">chosen</Badge></>}</td>
              <td class={`num ${c.meetsMaxDowntime ? '' : 'bad'}`}>{duration(c.predictedDowntimeMs)}{c.meetsMaxDowntime ? '' : ' (over limit)'}</td>
              <td class="num">{duration(c.predictedTotalMs)}</td>
              <td class="num">{bytes(c.predictedWireBytes)}</td>
              <td class="why">{c.why}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** The newest migration record of this VM, read from the (few) migration signals. */
function useLatestMigration(vm: string) {
  return useMemo(
    () =>
      computed((): MigrationRecord | undefined => {
        for (const id of store.migrations.names.value) {
          const m = store.migrations.get(id)?.value;
          if (m && m.vm === vm) return m;
        }
        return undefined;
      }),
    [vm],
  );
}

function Live({ record }: { record: MigrationRecord }) {
  const live = store.migrationLive.get(record.id)?.value;
  return (
    <div class="migration-live" role="group" aria-label={`Migration to ${record.to}`}>
      <div class="row">
        <span>
          Migrating {record.from} → {record.to} ({record.strategy}, {record.step})
        </span>
        <Progress key={record.id} percent={live?.percent ?? 0} label={`Migration of ${record.vm} to ${record.to}`} testid="migration-progress" />
        <span class="num">{live ? `${Math.round(live.percent)} %` : '…'}</span>
      </div>
      <p class="muted">
        round {live?.rounds ?? record.rounds} · dirty rate {rate(live?.dirtyRateBytesPerSec ?? record.dirtyRateBytesPerSec)} · remaining {bytes(live?.remainingBytes) ?? '–'} · ETA {live?.etaMs !== undefined ? duration(live.etaMs) : '–'}
      </p>
    </div>
  );
}

function Result({ record }: { record: MigrationRecord }) {
  return (
    <p class="migration-result" role="status">
      Last migration {record.from} → {record.to}: <Badge state={record.outcome} /> {record.strategy}
      {record.outcome === 'succeeded' ? (
        <>
          {' '}· downtime {duration(record.downtimeMs)}{record.observedDowntimeMs !== undefined && <> (observed {duration(record.observedDowntimeMs)})</>} · total {duration(record.totalMs)} · {bytes(record.wireBytes)} on the wire
        </>
      ) : (
        record.error && <span class="error"> · {record.error.message}</span>
      )}
    </p>
  );
}

export function MigratePanel({ vm, busy }: { vm: Vm; busy: boolean }) {
  const [to, setTo] = useState('');
  const [strategy, setStrategy] = useState<MigrationStrategy>('auto');
  const [plan, setPlan] = useState<MigrationPlan | undefined>();
  const [planning, setPlanning] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const [task, setTask] = useState<string | undefined>();
  const latest = useLatestMigration(vm.name).value;
  const confirmRef = useRef<HTMLButtonElement>(null);
  const running = latest?.outcome === 'running';
  const can = vm.state === 'running' && !busy && !running;

  const request = (dryRun: boolean): MigrateRequest => ({ to, ...(strategy !== 'auto' ? { strategy } : {}), ...(dryRun ? { dryRun } : {}) });
  const dryRun = async (): Promise<void> => {
    setPlanning(true);
    setError(undefined);
    setPlan(undefined);
    try {
      setPlan(await api.post<MigrationPlan>(vmPath(vm.name, '/migrate'), request(true)));
      setTimeout(() => confirmRef.current?.focus(), 0);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setPlanning(false);
    }
  };
  const start = async (): Promise<void> => {
    setError(undefined);
    try {
      const t = await api.post<Task>(vmPath(vm.name, '/migrate'), request(false));
      setTask(remember(t).id);
      setPlan(undefined);
    } catch (err) {
      setError((err as Error).message);
    }
  };

  return (
    <section class="panel migrate" aria-labelledby="migrate-title">
      <h3 id="migrate-title">Migrate</h3>
      <div class="row">
        <label>
          Target host{' '}
          <select data-testid="migrate-target" value={to} onChange={(e) => (setTo((e.target as HTMLSelectElement).value), setPlan(undefined))}>
            <TargetOptions vm={vm} />
          </select>
        </label>
        <label>
          Strategy{' '}
          <select data-testid="migrate-strategy" value={strategy} onChange={(e) => (setStrategy((e.target as HTMLSelectElement).value as MigrationStrategy), setPlan(undefined))}>
            <option value="auto">auto (planner decides)</option>
            <option value="precopy">pre-copy</option>
            <option value="postcopy">post-copy</option>
          </select>
        </label>
        <button type="button" data-testid="migrate-button" disabled={!can || !to || planning} onClick={() => void dryRun()}>
          {planning ? 'Planning…' : 'Plan migration'}
        </button>
      </div>
      {vm.state !== 'running' && <p class="muted">Only a running VM can be migrated.</p>}
      {error && <p class="error" role="alert">{error}</p>}
      {plan && (
        <>
          <Plan plan={plan} />
          <div class="row">
            <button type="button" class="primary" ref={confirmRef} data-testid="migrate-confirm" disabled={!can} onClick={() => void start()}>
              Start migration to {plan.to}
            </button>
            <button type="button" onClick={() => setPlan(undefined)}>Cancel</button>
          </div>
        </>
      )}
      {/* While the record runs its live bar shows the progress; the task shows how it ended (or why it never started). */}
      {task && !running && <TaskStatus key={task} id={task} label="Migration task" done="migrated" />}
      {latest && (running ? <Live record={latest} /> : <Result record={latest} />)}
    </section>
  );
}
