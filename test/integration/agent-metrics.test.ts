// Agent-side monitoring with real guests: per-VM CPU, dirty rate and network counters in the
// status the heartbeat carries, and the Prometheus endpoint. Rates are compared between VMs
// (busy vs idle), never against wall-clock thresholds.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient, METRICS_PATH, type VmMetrics, type VmSpec } from '../../src/contracts/index.js';
import { runAgent, type RunningAgent } from '../../src/agent/index.js';
import { demoSpec, killQemus, P, sleep, statusOf, waitSeqAbove } from '../../src/testing/agent.js';
import { waitFor } from '../../src/testing/wait-for.js';
import { TestPki } from '../../src/testing/pki.js';

const pki = new TestPki();

const dataDir = mkdtempSync(join(tmpdir(), 'ferry-agent-metrics-'));
let agent: RunningAgent;
let c: ApiClient;

before(async () => {
  agent = await runAgent({ name: 'mx1', site: 'main', dataDir, tls: await pki.identity('mx1'), accel: 'tcg', netBytesPerSec: 12_500_000 });
  c = (await pki.agentClient(agent.url, 'mx1'));
});

after(async () => {
  killQemus(dataDir);
  await agent?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function boot(spec: VmSpec): Promise<void> {
  await c.post(`${P}/vms`, spec);
  await c.post(`${P}/vms/${spec.name}/start`, {});
  await waitSeqAbove(c, spec.name, 1);
}

async function metricsOf(name: string): Promise<VmMetrics> {
  const m = (await statusOf(c, name)).metrics;
  assert.ok(m, `${name} has metrics`);
  return m;
}

/** CPU seconds per second of each VM over the same few seconds. */
async function cpuRates(names: string[]): Promise<number[]> {
  const a = await Promise.all(names.map(metricsOf));
  await sleep(4_000);
  const b = await Promise.all(names.map(metricsOf));
  return names.map((_n, i) => (b[i]!.cpuSeconds - a[i]!.cpuSeconds) / ((b[i]!.sampledAtMs! - a[i]!.sampledAtMs!) / 1000));
}

test('a cpu-burning VM uses clearly more CPU than an idle one; samples carry their time', async () => {
  await Promise.all([boot(demoSpec('m-idle')), boot(demoSpec('m-cpu', { workload: 'cpu' })), boot(demoSpec('m-dirty', { workload: 'dirty:16:64' }))]);
  const before = Date.now();
  const [cpu, idle] = await cpuRates(['m-cpu', 'm-idle']);
  assert.ok(cpu! > 3 * idle!, `cpu VM ${cpu!.toFixed(3)} cores vs idle VM ${idle!.toFixed(3)} cores`);
  const m = await metricsOf('m-idle');
  assert.ok(m.rssBytes > 0 && m.balloonBytes !== undefined);
  // Read during this test, not left over from earlier: between its start and now.
  assert.ok(m.sampledAtMs! >= before && m.sampledAtMs! <= Date.now(), `sampled at ${m.sampledAtMs}, test began ${before}`);
  const host = await c.get<{ netBytesPerSec?: number; cpuBusySeconds?: number; sampledAtMs?: number }>(`${P}/host`);
  assert.equal(host.netBytesPerSec, 12_500_000);
  assert.ok(host.cpuBusySeconds! > 0 && host.sampledAtMs! > 0);
  await c.post(`${P}/vms/m-cpu/stop`, { force: true }); // give the two cores back
});

test('the dirty-rate sampler reports a writer above an idle VM', async () => {
  const read = async (): Promise<readonly [number, number] | undefined> => {
    const [d, i] = await Promise.all([metricsOf('m-dirty'), metricsOf('m-idle')]);
    return d.dirtyBytesPerSec !== undefined && i.dirtyBytesPerSec !== undefined ? ([d.dirtyBytesPerSec, i.dirtyBytesPerSec] as const) : undefined;
  };
  await waitFor('dirty rates of both VMs', read, { timeoutMs: 30_000, everyMs: 500 });
  // The first measurement may fall in the idle guest's boot, which writes memory too; two more
  // rounds of the sampler (one per VM every 10 s) measure both VMs settled.
  await sleep(21_000);
  const [dirty, idle] = (await read())!;
  assert.ok(dirty > 0 && dirty > idle, `dirty VM ${dirty} B/s vs idle VM ${idle} B/s`);
});

test('GET /metrics needs a controller\'s certificate and speaks Prometheus and OpenMetrics', async () => {
  const url = `${agent.url}${METRICS_PATH}`;
  await assert.rejects(fetch(url), 'no client certificate: the TLS handshake is refused');
  const asHost = { dispatcher: await pki.dispatcher('host', 'other-host', { role: 'host' }) } as RequestInit;
  assert.equal((await fetch(url, asHost)).status, 401, "another host's certificate");
  const asController = { dispatcher: await pki.dispatcher('controller', 'ferry-controller', { role: 'host', name: 'mx1' }) };
  const prom = await fetch(url, asController as RequestInit);
  assert.equal(prom.status, 200);
  assert.match(prom.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await prom.text();
  assert.match(text, /^ferry_vm_cpu_seconds_total\{[^}]*vm="m-idle"[^}]*\} \d/m);
  assert.match(text, /^ferry_vm_state\{[^}]*vm="m-idle"[^}]*state="running"[^}]*\} 1$/m);
  assert.match(text, /^ferry_host_net_capacity_bytes_per_second\{host="mx1"\} 12500000$/m);
  assert.match(text, /^ferry_agent_process_cpu_seconds_total /m);
  const om = await fetch(url, { headers: { accept: 'application/openmetrics-text; version=1.0.0' }, ...asController } as RequestInit);
  assert.match(om.headers.get('content-type') ?? '', /^application\/openmetrics-text/);
  const omText = await om.text();
  assert.match(omText, /^# TYPE ferry_vm_cpu_seconds counter$/m);
  assert.match(omText, /^ferry_vm_cpu_seconds_total\{[^}]*vm="m-dirty"/m);
  assert.ok(omText.endsWith('# EOF\n'));
});

/** GETs / on a forwarded port `n` times; the TCP payload bytes the client sent and received. */
async function poll(port: number, n: number): Promise<{ sent: number; received: number }> {
  let sent = 0;
  let received = 0;
  for (let i = 0; i < n; i++) {
    await new Promise<void>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
        res.resume();
        res.on('end', () => {
          sent += req.socket?.bytesWritten ?? 0;
          received += req.socket?.bytesRead ?? 0;
          resolve();
        });
      });
      req.on('error', reject);
    });
  }
  return { sent, received };
}

test('an http guest polled through its forwarded port shows its network counters grow', async (t) => {
  await boot(demoSpec('m-http', { workload: 'http', nics: [{ network: 'user', forwardPorts: [80] }] }));
  const port = (await statusOf(c, 'm-http')).endpoints[0]!.port;
  const a = await waitFor('network counters', async () => {
    const m = await metricsOf('m-http');
    return m.netRxBytes !== undefined ? m : undefined;
  }, { timeoutMs: 20_000 });
  const { sent, received } = await poll(port, 100);
  const b = await metricsOf('m-http');
  const rx = b.netRxBytes! - a.netRxBytes!;
  const tx = b.netTxBytes! - a.netTxBytes!;
  // Frames carry the client's payload plus Ethernet/IP/TCP headers and handshakes: never less.
  assert.ok(rx >= sent, `guest received ${rx} frame bytes for ${sent} payload bytes sent`);
  assert.ok(tx >= received, `guest sent ${tx} frame bytes for ${received} payload bytes received`);
  t.diagnostic(`100 requests: payload in/out ${sent}/${received} B, frames rx/tx ${rx}/${tx} B`);
});
