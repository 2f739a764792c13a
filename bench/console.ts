// Does the web console stay responsive with hundreds of VMs? A real controller in this process,
// fake agents (src/testing/controller/fake-agent.ts) heartbeating every second with growing CPU
// counters for every VM (so every 2-s `load` event carries every VM), one VM changing state every
// 2 s (a `vm` event), and the console open in headless Chromium on the cluster view. Measured per
// cluster size, the smallest being the peer of the larger ones in the same run:
//   first render — navigation to every VM row on screen;
//   main-thread busy — Chromium's TaskDuration over a 20-s steady window, as a share of it;
//   event to screen — from the fake agent changing a VM's state to its row showing it (includes
//                     the heartbeat interval and the controller, so compare sizes, not absolutes).
// Usage: node dist/bench/console.js [--sizes 50,500] [--json FILE]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';
import { runController } from '../src/controller/index.js';
import { controllerClient } from '../src/testing/controller/client.js';
import { FakeAgent } from '../src/testing/controller/fake-agent.js';
import { TestPki } from '../src/testing/pki.js';
import { withDefaults } from '../src/contracts/vm-spec.js';
import { median, table } from './lib.js';

const ADMIN = 'bench-admin-token';
const pki = new TestPki();
const HOSTS = 10;
const STEADY_MS = 20_000;
const CHROMIUM = process.env.FERRY_CHROMIUM ?? '/usr/bin/chromium';
const MIB = 1024 * 1024;

interface Row {
  vms: number;
  firstRenderMs: number;
  busyPct: number;
  eventToScreenMs: number;
}

const uuid = (i: number): string => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;

async function measure(vmCount: number): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-console-'));
  await pki.seed(dir);
  const ctl = await runController({ dataDir: dir, adminToken: ADMIN });
  const c = controllerClient(() => ctl.url, ADMIN, pki);
  const agents = Array.from({ length: HOSTS }, (_, i) => new FakeAgent(`host${i + 1}`, pki, 'main', 512 * 1024, 64));
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
  let beating = true;
  let beats: Promise<void> = Promise.resolve();
  try {
    for (const a of agents) await a.listen();
    for (let i = 0; i < vmCount; i++) {
      const a = agents[i % HOSTS]!;
      const spec = withDefaults({ name: `vm${i}`, memoryMiB: 256 }, uuid(i + 1));
      a.vms.set(spec.name, { name: spec.name, uuid: spec.uuid, state: 'running', spec, endpoints: [], rev: 1 });
    }
    // Heartbeats with growing counters: about 0.1–0.9 cores per VM.
    const t0 = Date.now();
    const beat = async (): Promise<void> => {
      while (beating) {
        const s = (Date.now() - t0) / 1000;
        for (const a of agents) {
          for (const [name, st] of a.vms) {
            const share = 0.1 + (Number(name.slice(2)) % 9) / 10;
            a.vms.set(name, { ...st, metrics: { cpuSeconds: s * share, rssBytes: 200 * MIB, diskReadBytes: 0, diskWriteBytes: Math.floor(s * 4096), diskReadOps: 0, diskWriteOps: 0, netRxBytes: Math.floor(s * 1000), netTxBytes: Math.floor(s * 500), sampledAtMs: Date.now() } });
          }
          const r = await c.beat(a);
          if (r.status !== 200) console.error(`heartbeat of ${a.name}: HTTP ${r.status}`, r.body);
        }
        await sleep(1000);
      }
    };
    beats = beat();
    await sleep(2500);

    const page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
    await page.goto(`${ctl.url}/`);
    await page.getByLabel('Admin token').fill(ADMIN);
    const started = performance.now();
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid^="vm-row-"]').length >= n, vmCount, { timeout: 120_000 });
    const firstRenderMs = performance.now() - started;

    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Performance.enable');
    const taskSeconds = async (): Promise<number> => (await cdp.send('Performance.getMetrics')).metrics.find((m) => m.name === 'TaskDuration')?.value ?? 0;
    const before = await taskSeconds();
    const latencies: number[] = [];
    const steadyEnd = performance.now() + STEADY_MS;
    for (let i = 0; performance.now() < steadyEnd; i++) {
      const a = agents[i % HOSTS]!;
      const name = [...a.vms.keys()][i % a.vms.size]!;
      const st = a.vms.get(name)!;
      const next = st.state === 'running' ? 'paused' : 'running';
      const changed = performance.now();
      a.vms.set(name, { ...st, state: next, rev: (st.rev ?? 0) + 1 });
      await page.getByTestId(`vm-row-${name}`).getByText(next).first().waitFor({ timeout: 30_000 });
      latencies.push(performance.now() - changed);
      await sleep(Math.max(0, 2000 - (performance.now() - changed)));
    }
    const busyPct = ((await taskSeconds()) - before) / (STEADY_MS / 1000) * 100;
    return { vms: vmCount, firstRenderMs, busyPct, eventToScreenMs: median(latencies) };
  } finally {
    beating = false;
    await beats.catch(() => undefined);
    await browser.close();
    for (const a of agents) await a.close();
    await ctl.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const sizesAt = process.argv.indexOf('--sizes');
const sizes = sizesAt > 0 ? process.argv[sizesAt + 1]!.split(',').map(Number) : [50, 500];
const rows: Row[] = [];
for (const n of sizes) {
  console.error(`measuring ${n} VMs…`);
  rows.push(await measure(n));
}
console.log(
  table([
    ['VMs', 'first render', 'main thread busy', 'event to screen (median)'],
    ...rows.map((r) => [String(r.vms), `${Math.round(r.firstRenderMs)} ms`, `${r.busyPct.toFixed(1)} %`, `${Math.round(r.eventToScreenMs)} ms`]),
  ]),
);
const jsonAt = process.argv.indexOf('--json');
if (jsonAt > 0 && process.argv[jsonAt + 1]) writeFileSync(process.argv[jsonAt + 1]!, `${JSON.stringify(rows, null, 2)}\n`);
