// The cluster view: every site with its hosts (state, live CPU and memory charts, load, the VMs
// on it) and a form to create a VM. Built for hundreds of VMs: a host's VM list re-renders
// only when which VMs it holds changes, each row reads only its own VM's signal, and each
// live number is its own small component, so a `load` event every 2 s redraws charts and
// numbers, not lists.
import { computed, type ReadonlySignal } from '@preact/signals';
import { useEffect, useState } from 'preact/hooks';
import type { Host, Task } from '../../contracts/controller-api.js';
import type { HostSeries } from '../../contracts/metrics.js';
import { api, API } from '../api.js';
import { Badge } from '../components/badge.js';
import { Chart } from '../components/chart.js';
import { pct, sizeMiB } from '../../contracts/format.js';
import { WORKLOAD_EXAMPLES, WORKLOAD_INPUT } from '../../contracts/workload.js';
import { seedHistory, seedOnce } from '../components/history.js';
import { remember, TaskStatus } from '../components/task-status.js';
import { href } from '../router.js';
import * as store from '../store.js';

// --- grouping: sites → hosts → VMs, each list with a stable identity while unchanged ---

const sameList = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/** A computed list that keeps its previous array while the contents are equal (no re-render). */
function stableList(fn: () => string[]): ReadonlySignal<string[]> {
  let prev: string[] = [];
  return computed(() => {
    const next = fn();
    if (!sameList(prev, next)) prev = next;
    return prev;
  });
}

/** Host names by site. Hosts are few; a host's site never changes. */
const sites = computed(() => {
  const by = new Map<string, string[]>();
  for (const n of store.hosts.names.value) {
    const site = store.hosts.get(n)?.value.site ?? '?';
    by.set(site, [...(by.get(site) ?? []), n]);
  }
  return by;
});
const siteNames = stableList(() => [...sites.value.keys()].sort());

/** VM names by host, rebuilt per `vm` event (cheap); views read the per-host stable lists below. */
const vmsByHost = computed(() => {
  const by = new Map<string, string[]>();
  for (const n of store.vms.names.value) {
    const host = store.vms.get(n)?.value.host ?? '';
    let l = by.get(host);
    if (!l) by.set(host, (l = []));
    l.push(n);
  }
  return by;
});

const hostVmLists = new Map<string, ReadonlySignal<string[]>>();
function vmsOn(host: string): ReadonlySignal<string[]> {
  let s = hostVmLists.get(host);
  if (!s) hostVmLists.set(host, (s = stableList(() => vmsByHost.value.get(host) ?? [])));
  return s;
}
const siteHostLists = new Map<string, ReadonlySignal<string[]>>();
function hostsIn(site: string): ReadonlySignal<string[]> {
  let s = siteHostLists.get(site);
  if (!s) siteHostLists.set(site, (s = stableList(() => sites.value.get(site) ?? [])));
  return s;
}

// --- VM rows ---

function VmCpu({ name }: { name: string }) {
  const l = store.vmLoad.latestOf(name).value;
  return <td class="num">{l ? l.cpuCores.toFixed(2) : '–'}</td>;
}

function VmRow({ name }: { name: string }) {
  const vm = store.vms.get(name)?.value;
  if (!vm) return null;
  return (
    <tr data-testid={`vm-row-${name}`}>
      <td><a href={href({ view: 'vm', name })}>{name}</a></td>
      <td><Badge state={vm.state} /></td>
      <td class="num">{sizeMiB(vm.memoryMiB)}</td>
      <td class="num">{vm.vcpus}</td>
      <VmCpu name={name} />
      <td class="workload"><code>{vm.workload}</code></td>
    </tr>
  );
}

function HostVms({ host }: { host: string }) {
  const names = vmsOn(host).value;
  if (names.length === 0) return <p class="muted">No VMs on this host.</p>;
  return (
    <table class="vm-table">
      <caption class="visually-hidden">VMs on {host}</caption>
      <thead>
        <tr><th scope="col">VM</th><th scope="col">State</th><th scope="col" class="num">Memory</th><th scope="col" class="num">vCPUs</th><th scope="col" class="num">CPU cores</th><th scope="col">Workload</th></tr>
      </thead>
      <tbody>{names.map((n) => <VmRow key={n} name={n} />)}</tbody>
    </table>
  );
}

// --- hosts ---

function seedHost(name: string): void {
  seedOnce(`host/${name}`, async () => {
    const s = await api.get<HostSeries>(`${API}/metrics/hosts/${encodeURIComponent(name)}?window=5m`);
    seedHistory(store.hostLoad, name, s.points.map((p) => ({ t: p.t, cpu: p.cpu, mem: p.mem, net: p.net, volume: p.volume, hostCpu: p.hostCpu })));
  });
}

const toPct = (xs: number[] | undefined, n: number): number[] => (xs ?? new Array<number>(n).fill(NaN)).map((x) => x * 100);
const fmtPct = (v: number): string | undefined => pct(v / 100);

function HostCharts({ name }: { name: string }) {
  useEffect(() => seedHost(name), [name]);
  const h = store.hostLoad.historyOf(name).value;
  const n = h.t.length;
  return (
    <div class="host-charts">
      <Chart
        title="CPU"
        t={h.t}
        height={110}
        yRange={[0, 100]}
        series={[
          { label: 'VMs', values: toPct(h.fields.cpu, n), color: '#0b5394', format: fmtPct },
          { label: 'machine', values: toPct(h.fields.hostCpu, n), color: '#a15c00', format: fmtPct },
        ]}
      />
      <Chart title="Memory" t={h.t} height={110} yRange={[0, 100]} series={[{ label: 'used', values: toPct(h.fields.mem, n), color: '#1e7d32', format: fmtPct }]} />
    </div>
  );
}

function HostLoadNumbers({ name }: { name: string }) {
  const l = store.hostLoad.latestOf(name).value;
  if (!l) return <span class="muted">no load samples yet</span>;
  return (
    <span class="host-load">
      CPU {pct(l.cpu, 0)} · mem {pct(l.mem, 0)} · net {pct(l.net, 0)} · volume {l.volume.toFixed(2)}
      {l.hostCpu !== undefined && <> · machine CPU {pct(l.hostCpu, 0)}</>}
      {l.hot && <> <Badge state="hot">hot</Badge></>}
    </span>
  );
}

/** Host events come on joins and state changes only, so the VM count is taken from the VM list. */
function HostHead({ name }: { name: string }) {
  const h = store.hosts.get(name)?.value;
  const vmCount = vmsOn(name).value.length;
  if (!h) return null;
  return (
    <div class="host-head">
      <h3>{name}</h3>
      <Badge state={h.state} label="Host state" />
      <span class="muted">
        {h.cpus} CPUs · {sizeMiB(h.memoryMiB)} · {vmCount} {vmCount === 1 ? 'VM' : 'VMs'} · {h.accel} · QEMU {h.qemuVersion}
      </span>
    </div>
  );
}

/** Reads no signal itself: the pieces inside each follow only what they show. */
function HostCard({ name }: { name: string }) {
  return (
    <article class="panel host-card" aria-label={`Host ${name}`}>
      <HostHead name={name} />
      <HostLoadNumbers name={name} />
      <HostCharts name={name} />
      <HostVms host={name} />
    </article>
  );
}

function Site({ site }: { site: string }) {
  const hosts = hostsIn(site).value;
  return (
    <section class="site" aria-labelledby={`site-${site}`}>
      <h2 id={`site-${site}`}>Site {site}</h2>
      <div class="grid hosts">{hosts.map((h) => <HostCard key={h} name={h} />)}</div>
    </section>
  );
}

// --- create a VM ---

function HostOptions() {
  return (
    <>
      {store.hosts.names.value.map((n) => {
        const h = store.hosts.get(n)?.value as Host;
        return <option value={n} disabled={h.state !== 'up'}>{`${n} (${h.site}${h.state === 'up' ? '' : ', down'})`}</option>;
      })}
    </>
  );
}

function CreateVm() {
  const [f, setF] = useState({ name: '', memory: '128', vcpus: '1', disk: '', host: '', workload: 'idle' });
  const [error, setError] = useState<string | undefined>();
  const [task, setTask] = useState<{ id: string; name: string } | undefined>();
  const [busy, setBusy] = useState(false);
  const field = (k: keyof typeof f) => ({
    value: f[k],
    onInput: (e: Event) => setF({ ...f, [k]: (e.target as HTMLInputElement).value }),
  });
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const disk = Number(f.disk);
      const name = f.name.trim();
      const t = await api.post<Task>(`${API}/vms`, {
        name,
        memoryMiB: Number(f.memory),
        vcpus: Number(f.vcpus),
        workload: f.workload.trim() || 'idle',
        ...(f.disk.trim() && disk > 0 ? { disks: [{ sizeMiB: disk }] } : {}),
        ...(f.host ? { host: f.host } : {}),
      });
      setTask({ id: remember(t).id, name });
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="panel create-vm" aria-labelledby="create-title">
      <h2 id="create-title">Create VM</h2>
      <form class="create-form" onSubmit={(e) => void submit(e)}>
        <label>Name<input data-testid="create-name" required pattern="[a-z][a-z0-9\-]{0,62}" title="lower-case letters, digits and -, starting with a letter" placeholder="web1" {...field('name')} /></label>
        <label>Memory (MiB)<input data-testid="create-memory" type="number" min={32} step={1} required {...field('memory')} /></label>
        <label>vCPUs<input data-testid="create-vcpus" type="number" min={1} max={64} required {...field('vcpus')} /></label>
        <label>Disk (MiB, optional)<input data-testid="create-disk" type="number" min={1} placeholder="none" {...field('disk')} /></label>
        <label>Host
          <select data-testid="create-host" {...field('host')}>
            <option value="">automatic placement</option>
            <HostOptions />
          </select>
        </label>
        <label>Workload<input data-testid="create-workload" list="workloads" required {...WORKLOAD_INPUT} {...field('workload')} /></label>
        <datalist id="workloads">{WORKLOAD_EXAMPLES.map((w) => <option value={w} />)}</datalist>
        <button type="submit" class="primary" data-testid="create-submit" disabled={busy}>Create</button>
      </form>
      {error && <p class="error" role="alert">{error}</p>}
      {task && <TaskStatus key={task.id} id={task.id} label={`Create ${task.name}`} done="created and started" />}
    </section>
  );
}

export function ClusterView() {
  const list = siteNames.value;
  return (
    <section class="cluster" aria-labelledby="cluster-title">
      <h1 id="cluster-title">Cluster</h1>
      <CreateVm />
      {list.length === 0 ? <p class="muted">{store.connection.value === 'live' ? 'No hosts have joined yet.' : 'Loading…'}</p> : list.map((s) => <Site key={s} site={s} />)}
    </section>
  );
}
