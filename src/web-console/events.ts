// The event stream (/api/v1/events, with the session cookie) feeding the store. On every
// (re)connect it first loads a fresh snapshot over REST, so nothing missed while disconnected
// stays missing; EventSource reconnects by itself.
import { signal } from '@preact/signals';
import type { BalanceDecision, BalanceStatus } from '../contracts/balance.js';
import type { ClusterEvent, Host, Task, Vm } from '../contracts/controller-api.js';
import type { Protection } from '../contracts/dr.js';
import type { VmLocation } from '../contracts/endpoints.js';
import type { MigrationRecord } from '../contracts/migration.js';
import { api, API } from './api.js';
import * as store from './store.js';

export async function loadSnapshot(): Promise<void> {
  const [hosts, vms, tasks, migrations, protections, balance, locations] = await Promise.all([
    api.get<Host[]>(`${API}/hosts`),
    api.get<Vm[]>(`${API}/vms`),
    api.get<Task[]>(`${API}/tasks?limit=${store.MAX_TASKS}`),
    api.get<MigrationRecord[]>(`${API}/migrations`),
    api.get<Protection[]>(`${API}/dr/protections`),
    api.get<BalanceStatus>(`${API}/balance`),
    api.get<VmLocation[]>(`${API}/locations`),
  ]);
  store.locations.replace(locations, (l) => l.vm);
  store.hosts.replace(hosts, (h) => h.name);
  store.vms.replace(vms, (v) => v.name);
  store.tasks.replace(tasks, (t) => t.id);
  store.migrations.replace(migrations, (m) => m.id);
  store.protections.replace(protections, (p) => p.vm);
  store.balance.value = balance;
  store.decisions.value = balance.decisions;
  const now = Date.now();
  for (const h of hosts) if (h.load) store.hostLoad.append(h.name, now, h.load);
  for (const v of vms) if (v.load) store.vmLoad.append(v.name, now, v.load);
}

export function apply(e: ClusterEvent): void {
  switch (e.type) {
    case 'host':
      store.hosts.upsert(e.host.name, e.host);
      break;
    case 'vm':
      store.vms.upsert(e.vm.name, e.vm);
      break;
    case 'vm.removed':
      store.vms.remove(e.name);
      store.locations.remove(e.name);
      break;
    case 'location':
      store.locations.upsert(e.location.vm, e.location);
      break;
    case 'task':
      store.tasks.upsert(e.task.id, e.task);
      break;
    case 'migration': {
      store.migrations.upsert(e.record.id, e.record);
      const live = store.migrationLive.get(e.record.id);
      if (live) live.value = e.live;
      else store.migrationLive.set(e.record.id, signal(e.live));
      break;
    }
    case 'load':
      for (const [name, l] of Object.entries(e.hosts)) store.hostLoad.append(name, e.at, l);
      for (const [name, l] of Object.entries(e.vms)) store.vmLoad.append(name, e.at, l);
      break;
    case 'dr.state':
      if (e.protection) store.protections.upsert(e.vm, e.protection);
      else store.protections.remove(e.vm);
      break;
    case 'balance.decision':
      store.decisions.value = [e.decision as BalanceDecision, ...store.decisions.value].slice(0, store.MAX_DECISIONS);
      break;
    default:
      // dr.checkpoint, dr.alarm, dr.ha: the DR view reloads what it shows (see views/dr.tsx).
      break;
  }
}

/** Extra listeners, for views that react to an event kind (e.g. DR reloads on dr.checkpoint). */
const listeners = new Set<(e: ClusterEvent) => void>();
export function onEvent(fn: (e: ClusterEvent) => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

const TYPES: ClusterEvent['type'][] = ['host', 'vm', 'vm.removed', 'task', 'migration', 'load', 'location', 'dr.checkpoint', 'dr.alarm', 'dr.state', 'dr.ha', 'balance.decision'];

export function connect(): () => void {
  const es = new EventSource(`${API}/events`, { withCredentials: true });
  store.connection.value = 'connecting';
  es.onopen = () => {
    loadSnapshot().then(
      () => (store.connection.value = 'live'),
      () => (store.connection.value = 'lost'),
    );
  };
  es.onerror = () => {
    store.connection.value = 'lost';
  };
  for (const type of TYPES) {
    es.addEventListener(type, (m: MessageEvent<string>) => {
      const e = JSON.parse(m.data) as ClusterEvent;
      apply(e);
      for (const fn of listeners) fn(e);
    });
  }
  return () => es.close();
}
