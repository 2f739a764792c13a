// One VM's page: where it is and what it is, live charts of its load, the tail of its serial
// console with the guest's heartbeat, its actions and migration. Everything follows the event
// stream through this VM's own signals; the console tail is polled while the page is open.
import { computed } from '@preact/signals';
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { Vm } from '../../contracts/controller-api.js';
import type { VmSeries } from '../../contracts/metrics.js';
import { api, API } from '../api.js';
import { Badge } from '../components/badge.js';
import { Chart } from '../components/chart.js';
import { ConsoleTail } from '../components/console-tail.js';
import { rate, sizeMiB } from '../../contracts/format.js';
import { seedHistory, seedOnce } from '../components/history.js';
import { TaskStatus, taskEnded } from '../components/task-status.js';
import { VmActions } from '../components/vm-actions.js';
import { MigratePanel } from '../components/vm-migrate.js';
import { href } from '../router.js';
import * as store from '../store.js';

function seedVm(name: string): void {
  seedOnce(`vm/${name}`, async () => {
    const s = await api.get<VmSeries>(`${API}/metrics/vms/${encodeURIComponent(name)}?window=5m`);
    const points = s.points.map((p) => ({ t: p.t, cpuCores: p.cpuCores, rssMiB: p.rssMiB, dirtyMiBps: p.dirtyMiBps, diskBps: p.diskReadBps + p.diskWriteBps, netBps: p.netRxBps + p.netTxBps }));
    seedHistory(store.vmLoad, name, points);
  });
}

const nanIfMissing = (xs: number[] | undefined, n: number): number[] => xs ?? new Array<number>(n).fill(NaN);

function VmCharts({ name }: { name: string }) {
  useEffect(() => seedVm(name), [name]);
  const h = store.vmLoad.historyOf(name).value;
  const n = h.t.length;
  const f = (k: string) => nanIfMissing(h.fields[k], n);
  return (
    <div class="vm-charts">
      <Chart title="CPU (cores)" t={h.t} height={120} series={[{ label: 'cores', values: f('cpuCores'), color: '#0b5394' }]} />
      <Chart title="Memory (RSS MiB)" t={h.t} height={120} series={[{ label: 'RSS', values: f('rssMiB'), color: '#1e7d32', format: (v) => `${v.toFixed(0)} MiB` }]} />
      <Chart
        title="Disk and network"
        t={h.t}
        height={120}
        series={[
          { label: 'disk', values: f('diskBps'), color: '#a15c00', format: rate },
          { label: 'net', values: f('netBps'), color: '#6a3d9a', format: rate },
        ]}
      />
      <Chart title="Dirty memory (MiB/s)" t={h.t} height={120} series={[{ label: 'dirty', values: f('dirtyMiBps'), color: '#b3261e', format: (v) => `${v.toFixed(1)} MiB/s` }]} />
    </div>
  );
}

/** Its own component: `load` events every 2 s re-render this line, not the page. A stopped VM's last sample is stale, so it is not shown. */
function LoadLine({ name, live }: { name: string; live: boolean }) {
  const l = store.vmLoad.latestOf(name).value;
  return l && live ? <> · {l.cpuCores.toFixed(2)} cores · {l.rssMiB.toFixed(0)} MiB RSS{l.dirtyMiBps !== undefined && <> · dirtying {l.dirtyMiBps.toFixed(1)} MiB/s</>}</> : null;
}

function Spec({ vm }: { vm: Vm }) {
  const s = vm.spec;
  const disks = s.disks.length === 0 ? 'none' : s.disks.map((d) => (d.image ? `on ${d.image}` : (sizeMiB(d.sizeMiB) ?? '–'))).join(', ');
  const ports = s.nics.flatMap((n) => (n.network === 'user' ? (n.forwardPorts ?? []) : []));
  const lan = s.nics.flatMap((n) => (n.network === 'bridged' ? [`${n.ip ?? '?'} on ${n.segment ?? '?'}`] : []));
  return (
    <dl class="spec">
      <div><dt>Host</dt><dd>{vm.host}</dd></div>
      <div><dt>Site</dt><dd>{vm.site}</dd></div>
      <div><dt>Memory</dt><dd>{sizeMiB(s.memoryMiB)}{s.balloon ? ' (balloon)' : ''}</dd></div>
      <div><dt>vCPUs</dt><dd>{s.vcpus}</dd></div>
      <div><dt>Disks</dt><dd>{disks}</dd></div>
      <div><dt>Boot</dt><dd>{s.boot.kind}</dd></div>
      <div><dt>Workload</dt><dd><code>{s.workload}</code></dd></div>
      {lan.length > 0 && <div><dt>Bridged</dt><dd>{lan.join(', ')}</dd></div>}
      {ports.length > 0 && <div><dt>Forwarded ports</dt><dd>{ports.join(', ')}</dd></div>}
      {vm.endpoints.length > 0 && <div><dt>Endpoints</dt><dd>{vm.endpoints.map((e) => JSON.stringify(e)).join(', ')}</dd></div>}
    </dl>
  );
}

/** A task of any origin (this page, the CLI, the balancer) still working on this VM. */
function useBusy(name: string) {
  return useMemo(
    () =>
      computed(() => {
        const target = `vm/${name}`;
        for (const id of store.tasks.names.value) {
          const t = store.tasks.get(id)?.value;
          if (t && t.target === target && !taskEnded(t.state)) return t;
        }
        return undefined;
      }),
    [name],
  ).value;
}

function Gone({ name, deleteTask }: { name: string; deleteTask: string | undefined }) {
  return (
    <section class="panel vm-gone" aria-labelledby="vm-title">
      <h1 id="vm-title">{name}</h1>
      <p role="status">{deleteTask ? `${name} was deleted.` : `There is no VM named ${name} (any more).`}</p>
      {deleteTask && <TaskStatus id={deleteTask} label="Delete" />}
      <p><a href={href({ view: 'cluster' })}>Back to the cluster</a></p>
    </section>
  );
}

/** Keyed by name: going from one VM's page to another's starts with fresh state. */
export function VmView({ name }: { name: string }) {
  return <VmPage key={name} name={name} />;
}

function VmPage({ name }: { name: string }) {
  const [deleteTask, setDeleteTask] = useState<string | undefined>();
  const sig = store.vms.get(name);
  // Not (yet) in the store: follow the list, so its arrival (or the snapshot) re-renders this.
  const vm = sig ? sig.value : (store.vms.names.value, undefined);
  const busy = useBusy(name);
  if (!vm) {
    if (store.connection.value !== 'live' && !deleteTask) return <p class="muted">Loading {name}…</p>;
    return <Gone name={name} deleteTask={deleteTask} />;
  }
  return (
    <section class="vm-view" aria-labelledby="vm-title">
      <div class="vm-head">
        <a href={href({ view: 'cluster' })} class="back">← Cluster</a>
        <h1 id="vm-title">{vm.name}</h1>
        <Badge state={vm.state} label="VM state" />
        <span class="muted">
          on <strong>{vm.host}</strong> at site <strong>{vm.site}</strong>
          <LoadLine name={name} live={vm.state === 'running' || vm.state === 'paused'} />
        </span>
        {busy && <span class="muted busy">{busy.kind} in progress…</span>}
      </div>
      {vm.error && <p class="error">Last error: {vm.error}</p>}
      <div class="vm-grid">
        <div class="vm-main">
          <section class="panel" aria-labelledby="console-title">
            <h3 id="console-title">Serial console</h3>
            <ConsoleTail name={name} />
          </section>
          <VmActions vm={vm} busy={!!busy} onDeleting={setDeleteTask} />
          <MigratePanel vm={vm} busy={!!busy} />
        </div>
        <div class="vm-side">
          <section class="panel" aria-labelledby="spec-title">
            <h3 id="spec-title">Specification</h3>
            <Spec vm={vm} />
          </section>
          <Location name={name} />
          <section class="panel" aria-labelledby="charts-title">
            <h3 id="charts-title">Load</h3>
            <VmCharts name={name} />
          </section>
        </div>
      </div>
    </section>
  );
}

/** The location registry's entry: where the VM runs, since when and why, and how clients reach it. */
function Location({ name }: { name: string }) {
  const loc = store.locations.get(name)?.value ?? (store.locations.names.value, undefined);
  if (!loc) return null;
  const reach = [
    ...(loc.addresses.lan ?? []).map((a) => `${a.ip} on segment ${a.segment} (MAC ${a.mac})`),
    ...loc.addresses.forwards.map((f) => `${f.host}:${f.port} → guest port ${f.guestPort}`),
  ];
  return (
    <section class="panel" aria-labelledby="location-title">
      <h3 id="location-title">Location</h3>
      <dl class="spec location">
        <div><dt>Where</dt><dd>{loc.host} at site {loc.site}</dd></div>
        <div><dt>Since</dt><dd>{new Date(loc.since).toLocaleTimeString()} ({loc.reason})</dd></div>
        {reach.length > 0 && <div><dt>Reach it at</dt><dd>{reach.join(', ')}</dd></div>}
        {loc.ports.length > 0 && <div><dt>Endpoints</dt><dd>guest port{loc.ports.length > 1 ? 's' : ''} {loc.ports.join(', ')} (ferry vm endpoints {loc.vm})</dd></div>}
      </dl>
    </section>
  );
}
