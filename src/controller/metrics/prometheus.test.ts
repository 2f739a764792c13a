import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Host, Vm } from '../../contracts/controller-api.js';
import { PrometheusEndpoint } from './prometheus.js';
import type { MetricsService } from './service.js';

test('one scrape reads hosts, VMs, protections and migration totals once, for every gauge', async () => {
  const reads = { hosts: 0, vms: 0, protections: 0, byOutcome: 0, lastSucceeded: 0 };
  const host = { name: 'h1', site: 'main', state: 'up', vmCount: 1, memoryAllocatedMiB: 128, load: { cpu: 0.5, net: 0, mem: 0.1, volume: 2.2, hot: false } } as unknown as Host;
  const vm = { name: 'web', host: 'h1', site: 'main', state: 'running' } as unknown as Vm;
  const prom = new PrometheusEndpoint({
    hosts: () => (reads.hosts++, [host]),
    vms: () => (reads.vms++, [vm]),
    protections: () => (reads.protections++, []),
    metrics: { latestVm: () => ({ cpuCores: 0.25, rssMiB: 100, diskReadBps: 0, diskWriteBps: 0, netRxBps: 1, netTxBps: 2 }) } as unknown as MetricsService,
    migrations: { byOutcome: () => (reads.byOutcome++, [{ outcome: 'succeeded', n: 2, bytes: 1000 }]), lastSucceeded: () => (reads.lastSucceeded++, [{ vm: 'web', downtimeMs: 40, totalMs: 900 }]) },
    tasksRunning: () => 0,
  });
  const { body } = await prom.scrape(undefined);
  assert.match(body, /ferry_host_cpu_utilisation\{host="h1",site="main"\} 0\.5/);
  assert.match(body, /ferry_vm_cpu_cores\{vm="web",host="h1"\} 0\.25/);
  assert.match(body, /ferry_migration_bytes_total 1000/);
  assert.deepEqual(reads, { hosts: 1, vms: 1, protections: 1, byOutcome: 1, lastSucceeded: 1 });
  await prom.scrape('application/openmetrics-text');
  assert.deepEqual(reads, { hosts: 2, vms: 2, protections: 2, byOutcome: 2, lastSucceeded: 2 }, 'the next scrape reads afresh');
});
