// Disaster recovery: per protected VM its route (site → DR site/host), state, the age of its
// newest checkpoint against the RPO (a gauge that ticks between events), checkpoints, bytes sent
// and alarm; the failover / planned failover / DR test / failback actions, each confirmed first
// and followed as a task; expanding a VM shows its points in time and its reports.
import { signal } from '@preact/signals';
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { ComponentChildren } from 'preact';
import type { Task } from '../../contracts/controller-api.js';
import type { FailoverMode, FailoverReport, Protection } from '../../contracts/dr.js';
import { api, API } from '../api.js';
import { Badge } from '../components/badge.js';
import { ask } from '../components/confirm.js';
import { DrDetail, bumpDetail } from '../components/dr-detail.js';
import { RpoGauge } from '../components/dr-gauge.js';
import { DrProtectForm } from '../components/dr-protect.js';
import { remember, TaskStatus } from '../components/task-status.js';
import { bytes, duration } from '../../contracts/format.js';
import { onEvent } from '../events.js';
import { href } from '../router.js';
import * as store from '../store.js';

/** Ticks once a second while the view is shown: checkpoint ages move between events. */
const now = signal(Date.now());
const expanded = signal<ReadonlySet<string>>(new Set());
/** The latest action started from this view, per VM: its task is followed in the row. */
const actions = signal<Readonly<Record<string, { taskId: string; label: string }>>>({});

type Action = FailoverMode | 'failback';
const LABEL: Record<Action, string> = { unplanned: 'Failover', planned: 'Planned failover', test: 'DR test', failback: 'Failback' };
const TERMINAL = new Set<Task['state']>(['succeeded', 'failed', 'aborted']);

let refreshTimer: ReturnType<typeof setTimeout> | undefined;
/** Reloads every protection (ages, counts, alarms) once, however many events asked for it. */
function refreshSoon(): void {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => {
    refreshTimer = undefined;
    api.get<Protection[]>(`${API}/dr/protections`).then((ps) => store.protections.replace(ps, (p) => p.vm), () => undefined);
  }, 250);
}

function setExpanded(vm: string, open: boolean): void {
  const s = new Set(expanded.value);
  if (open) s.add(vm);
  else s.delete(vm);
  expanded.value = s;
}

function confirmText(a: Action, p: Protection): { title: string; body: ComponentChildren; confirm: string; danger?: boolean } {
  const cp = p.lastCheckpoint ? `checkpoint #${p.lastCheckpoint.seq}` : 'its newest checkpoint';
  switch (a) {
    case 'unplanned':
      return {
        title: `Fail ${p.vm} over to ${p.toSite}?`,
        body: (
          <>
            <p>{p.vm} is started at <strong>{p.targetHost}</strong> ({p.toSite}) from {cp}. Whatever it did after that checkpoint is lost.</p>
            <p>This is for a disaster: its host must be <strong>down</strong>. While the host is up the controller refuses, so that two copies never run at once — use a planned failover instead.</p>
          </>
        ),
        confirm: 'Fail over',
        danger: true,
      };
    case 'planned':
      return {
        title: `Planned failover of ${p.vm} to ${p.toSite}?`,
        body: <p>{p.vm} is paused, a final checkpoint goes to <strong>{p.targetHost}</strong>, and {p.vm} resumes there. Nothing is lost; the VM is unavailable for the switch. Failback brings it home later.</p>,
        confirm: 'Planned failover',
      };
    case 'test':
      return {
        title: `DR test of ${p.vm}?`,
        body: <p>An isolated copy of {p.vm} starts at <strong>{p.targetHost}</strong> from {cp}, with no network to the outside. It is checked (it boots, its heartbeat advances, its memory is intact) and torn down, and the report is kept as evidence. Production {p.vm} keeps running, untouched.</p>,
        confirm: 'Run DR test',
      };
    case 'failback':
      return {
        title: `Fail ${p.vm} back to ${p.fromSite}?`,
        body: <p>{p.vm} is brought home to {p.fromSite}, sending only what changed since it left; it pauses briefly for the switch and then runs there again, protected as before.</p>,
        confirm: 'Fail back',
      };
  }
}

/** A finished action's FailoverReport in one line (the whole report is in the details). */
function ActionResult({ id }: { id: string }) {
  const r = store.tasks.get(id)?.value.result as FailoverReport | undefined;
  if (!r?.checks) return null;
  const passed = r.checks.filter((c) => c.passed).length;
  return <p role="status" class={r.outcome === 'succeeded' ? 'ok' : 'error'}>{r.outcome === 'succeeded' ? 'Succeeded' : 'Failed'}: {passed} of {r.checks.length} checks passed, data window {duration(r.dataWindowMs)}, running after {duration(r.timeToRunningMs)}. The report is in the details.</p>;
}

/** The gauge alone reads the ticking clock, so a tick re-renders gauges, not rows. */
function LiveGauge({ p, fetchedAt }: { p: Protection; fetchedAt: number }) {
  const age = p.ageMs !== undefined ? p.ageMs + Math.max(0, now.value - fetchedAt) : undefined;
  return <RpoGauge vm={p.vm} rpoMs={p.rpoMs} ageMs={age} />;
}

function ProtectionRow({ vm }: { vm: string }) {
  const p = store.protections.get(vm)?.value;
  // ageMs is the age when the controller answered: time since then is added by the gauge.
  const fetchedAt = useMemo(() => Date.now(), [p]);
  const [error, setError] = useState<string | undefined>();
  if (!p) return null;
  const open = expanded.value.has(vm);
  const action = actions.value[vm];
  const failedOver = p.state === 'failed-over';

  const run = async (a: Action): Promise<void> => {
    const c = confirmText(a, p);
    if (!(await ask(c.title, { body: c.body, confirm: c.confirm, danger: c.danger ?? false }))) return;
    const base = `${API}/dr/protections/${encodeURIComponent(vm)}`;
    try {
      const task = await (a === 'failback' ? api.post<Task>(`${base}/failback`) : api.post<Task>(`${base}/failover`, { mode: a }));
      remember(task);
      actions.value = { ...actions.value, [vm]: { taskId: task.id, label: LABEL[a] } };
      setExpanded(vm, true);
      setError(undefined);
    } catch (e) {
      setError((e as Error).message);
    }
  };
  const detailId = `dr-detail-${vm}`;

  return (
    <tbody class="dr-protection">
      <tr data-testid={`dr-row-${vm}`}>
        <td>
          <button type="button" class="link expand" aria-expanded={open} aria-controls={detailId} onClick={() => setExpanded(vm, !open)}>
            <span aria-hidden="true">{open ? '▾' : '▸'}</span>
            <span class="visually-hidden">{open ? 'Hide' : 'Show'} points in time and reports of {vm}</span>
          </button>{' '}
          <a href={href({ view: 'vm', name: vm })}>{vm}</a>
        </td>
        <td>{p.fromSite} → {p.toSite}<div class="muted">{p.targetHost}{p.ha === false ? '' : ' · HA'}</div></td>
        <td><Badge state={p.state} label="Protection" /></td>
        <td>
          <LiveGauge p={p} fetchedAt={fetchedAt} />
          <div class="muted">RPO {p.rpoMs === 0 ? '0 (zero-loss)' : duration(p.rpoMs)}</div>
        </td>
        <td class="num">{p.checkpoints}<div class="muted">keep {p.keep}</div></td>
        <td class="num">{bytes(p.bytesSent)}</td>
        <td class="dr-alarm">
          {p.alarm ? <span class="bad">{p.alarm.reason}</span> : <span class="muted">none</span>}
          {p.lastError && <div class="error">{p.lastError.message}</div>}
        </td>
        <td class="dr-actions">
          <button type="button" data-testid={`dr-test-${vm}`} onClick={() => void run('test')} disabled={failedOver}>Test failover</button>
          <button type="button" onClick={() => void run('planned')} disabled={failedOver}>Planned failover</button>
          <button type="button" class="danger" onClick={() => void run('unplanned')} disabled={failedOver} title="Unplanned: needs the VM's host to be down">Failover</button>
          <button type="button" onClick={() => void run('failback')} disabled={!failedOver}>Failback</button>
        </td>
      </tr>
      {(action || error) && (
        <tr class="dr-task-row">
          <td colSpan={8}>
            {error && <p class="error" role="alert">{error}</p>}
            {action && (
              <>
                <TaskStatus id={action.taskId} label={action.label} />
                <ActionResult id={action.taskId} />
              </>
            )}
          </td>
        </tr>
      )}
      {open && (
        <tr class="dr-detail-row" id={detailId}>
          <td colSpan={8}>
            <DrDetail vm={vm} />
          </td>
        </tr>
      )}
    </tbody>
  );
}

export function DrView() {
  useEffect(() => {
    const tick = setInterval(() => (now.value = Date.now()), 1000);
    const resync = setInterval(refreshSoon, 15_000);
    const off = onEvent((e) => {
      if (e.type === 'dr.checkpoint') {
        refreshSoon();
        bumpDetail(e.checkpoint.vm);
      } else if (e.type === 'dr.alarm') {
        refreshSoon();
      } else if (e.type === 'dr.state') {
        bumpDetail(e.vm);
      } else if (e.type === 'task' && TERMINAL.has(e.task.state)) {
        for (const [vm, a] of Object.entries(actions.value)) {
          if (a.taskId !== e.task.id) continue;
          bumpDetail(vm);
          refreshSoon();
        }
      }
    });
    refreshSoon();
    return () => {
      clearInterval(tick);
      clearInterval(resync);
      off();
    };
  }, []);
  const names = store.protections.names.value;
  return (
    <section class="dr" aria-labelledby="dr-title">
      <h1 id="dr-title">Disaster recovery</h1>
      {names.length === 0 ? (
        <p class="muted">No VM is protected yet.</p>
      ) : (
        <div class="panel table-wrap">
          <table class="dr-table">
            <thead>
              <tr>
                <th scope="col">VM</th>
                <th scope="col">Site → DR site / host</th>
                <th scope="col">State</th>
                <th scope="col">Newest checkpoint vs RPO</th>
                <th scope="col" class="num">Checkpoints</th>
                <th scope="col" class="num">Sent</th>
                <th scope="col">Alarm</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            {names.map((vm) => <ProtectionRow key={vm} vm={vm} />)}
          </table>
        </div>
      )}
      <DrProtectForm />
    </section>
  );
}
