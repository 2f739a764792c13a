// Benchmark (issue 15): the controller on SQLite next to the controller on PostgreSQL, in the
// same run, with fake agents (no QEMU):
// 1. heartbeat ingest and API latency with `--hosts` hosts reporting `--vms` VMs in all: how many
//    heartbeats a second one controller takes in, and the latency of a read (GET /vms), of the
//    status, and of a change that must be durable before it answers (PUT /balance/config), while
//    every host beats once a second;
// 2. takeover: time from SIGKILL of the controller to the first task accepted — on PostgreSQL by
//    the standby that takes over (no one restarts anything), next to SQLite where the killed
//    controller is restarted at once by hand (the best a single controller can do).
//   node dist/bench/controllers.js [--hosts 100] [--vms 2000] [--seconds 10] [--takeovers 3]
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { randomUUID } from 'node:crypto';
import { withDefaults, type VmStatus } from '../src/contracts/vm-spec.js';
import { beatAs, call } from '../src/testing/controller/client.js';
import { TestPki } from '../src/testing/pki.js';
import { FakeAgent } from '../src/testing/controller/fake-agent.js';
import { startTestPostgres, type TestPostgres } from '../src/testing/postgres.js';
import { waitFor } from '../src/testing/wait-for.js';
import { terminate } from '../src/cli/process.js';
import { median, REPO, table } from './lib.js';

const { values } = parseArgs({ options: { hosts: { type: 'string', default: '100' }, vms: { type: 'string', default: '2000' }, seconds: { type: 'string', default: '10' }, takeovers: { type: 'string', default: '3' } } });
const HOSTS = Number(values.hosts);
const VMS = Number(values.vms);
const SECONDS = Number(values.seconds);
const TAKEOVERS = Number(values.takeovers);
const ADMIN = 'bench-admin';
/** The cluster CA of the controllers under test (set with each one). */
let pki = new TestPki();

const p99 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))] ?? NaN;
const ms = (x: number): string => x.toFixed(1);

function fakeHosts(): FakeAgent[] {
  const agents = Array.from({ length: HOSTS }, (_, i) => {
    const a = new FakeAgent(`h${i + 1}`, pki, 'main', 1 << 20, 64);
    a.url = 'https://127.0.0.1:9'; // never called: nothing here acts on a VM
    return a;
  });
  for (let v = 0; v < VMS; v++) {
    const uuid = randomUUID();
    const name = `vm${v}`;
    const st: VmStatus = { name, uuid, state: 'running', spec: withDefaults({ name, memoryMiB: 64 }, uuid), endpoints: [], rev: 1 };
    agents[v % HOSTS]!.vms.set(name, st);
  }
  return agents;
}

async function timed(f: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

/** Part 1 on one controller URL. */
async function load(url: string): Promise<(string | number)[]> {
  const agents = fakeHosts();
  let refused = 0;
  const beat = (a: FakeAgent): Promise<unknown> => beatAs(url, ADMIN, pki, a).then((r) => {
    if (r.status === 503) refused++; // NOT_LEADER: this controller lost its lease under the load
    else if (r.status !== 200) throw new Error(`heartbeat ${r.status}: ${r.text.slice(0, 200)}`);
  });
  for (const a of agents) await beat(a); // register and adopt every VM
  await waitFor('every VM known', async () => ((await call(url, 'GET', '/api/v1/vms', { token: ADMIN })).body as unknown[]).length === VMS, { timeoutMs: 120_000 });

  // Ingest: every host beating back to back, 8 at a time, for SECONDS.
  let beats = 0;
  const until = performance.now() + SECONDS * 1000;
  await Promise.all(Array.from({ length: 8 }, async (_, w) => {
    for (let i = w; performance.now() < until; i += 8) {
      await beat(agents[i % HOSTS]!);
      beats++;
    }
  }));
  const ingest = beats / SECONDS;

  // Latency under the realistic load: each host once a second.
  let stop = false;
  const background = (async () => {
    while (!stop) {
      const t0 = performance.now();
      await Promise.all(agents.map(beat));
      await new Promise((r) => setTimeout(r, Math.max(0, 1000 - (performance.now() - t0))));
    }
  })();
  const reads: number[] = [];
  const status: number[] = [];
  const changes: number[] = [];
  for (let i = 0; i < 20; i++) {
    reads.push(await timed(() => call(url, 'GET', '/api/v1/vms', { token: ADMIN })));
    status.push(await timed(() => call(url, 'GET', '/api/v1/status', { token: ADMIN })));
    changes.push(await timed(async () => {
      const r = await call(url, 'PUT', '/api/v1/balance/config', { token: ADMIN, body: { auto: i % 2 === 0 } });
      if (r.status !== 200) throw new Error(`PUT config ${r.status}: ${r.text.slice(0, 200)}`);
    }));
  }
  stop = true;
  await background;
  return [Math.round(ingest), refused, ms(median(reads)), ms(p99(reads)), ms(median(status)), ms(median(changes)), ms(p99(changes))];
}

async function controllerProcess(dir: string, db: string | undefined): Promise<{ child: ChildProcess; url: () => string }> {
  const token = join(dir, 'token');
  writeFileSync(token, ADMIN);
  const data = join(dir, 'data');
  if (!db) await pki.seed(data);
  const args = [join(REPO, 'bin/ferry.js'), 'controller', '--data-dir', data, '--port', '0', '--token-file', token, '--host-down-after', '60000', ...(db ? ['--db', db] : [])];
  // Its log (DEBUG=ferry:* to see elections and flushes) outlives the run, for when a number looks wrong.
  const out = openSync(join(tmpdir(), `ferry-bench-controller-${Date.now()}.log`), 'w');
  const child = spawn(process.execPath, args, { stdio: ['ignore', out, out] });
  closeSync(out);
  return { child, url: () => (JSON.parse(readFileSync(join(data, 'controller.json'), 'utf8')) as { url: string }).url };
}

/** Part 2: SIGKILL the leader; ms until a task is accepted (by a standby, or by the restarted SQLite controller). */
async function takeover(db: string | undefined): Promise<number> {
  const dirs = [mkdtempSync(join(tmpdir(), 'ferry-bench-ctl-')), mkdtempSync(join(tmpdir(), 'ferry-bench-ctl-'))];
  pki = db ? TestPki.forPostgres(db) : new TestPki();
  await pki.ca();
  const procs = db ? await Promise.all(dirs.map((d) => controllerProcess(d, db))) : [await controllerProcess(dirs[0]!, undefined)];
  const agent = new FakeAgent('h1', pki);
  await agent.listen();
  let beating = true;
  try {
    const urls = await Promise.all(procs.map((p) => waitFor('controller up', () => p.url(), { everyMs: 50 })));
    const beats = (async () => {
      while (beating) {
        // Whichever leads takes it; a standby refuses it (NOT_LEADER).
        for (const u of urls) await beatAs(u, ADMIN, pki, agent).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    const roleOf = async (u: string): Promise<string | undefined> => (await call(u, 'GET', '/api/v1/status', { token: ADMIN }).catch(() => undefined))?.body?.controller?.role;
    const leaderIdx = await waitFor('a leader with host h1 up', async () => {
      for (let i = 0; i < urls.length; i++) {
        if ((await roleOf(urls[i]!)) !== 'leader') continue;
        const hosts = (await call(urls[i]!, 'GET', '/api/v1/hosts', { token: ADMIN })).body as { state: string }[];
        if (hosts[0]?.state === 'up') return i + 1;
      }
      return undefined;
    }, { everyMs: 50 }) - 1;
    const t0 = performance.now();
    procs[leaderIdx]!.child.kill('SIGKILL');
    if (!db) {
      rmSync(join(dirs[0]!, 'data', 'controller.json'), { force: true });
      procs.push(await controllerProcess(dirs[0]!, undefined));
    }
    const accepted = await waitFor('a task accepted after the kill', async () => {
      const u = db ? urls[1 - leaderIdx]! : await Promise.resolve(procs[1]!.url()).catch(() => undefined);
      if (!u) return undefined;
      const r = await call(u, 'POST', '/api/v1/vms', { token: ADMIN, body: { name: `after-${randomUUID().slice(0, 8)}`, memoryMiB: 64, start: false } }).catch(() => undefined);
      return r?.status === 202 ? performance.now() : undefined;
    }, { everyMs: 20, timeoutMs: 60_000 });
    beating = false;
    await beats;
    return accepted - t0;
  } finally {
    beating = false;
    for (const p of procs) if (p.child.pid !== undefined) await terminate(p.child.pid, 3000);
    await agent.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

let pgServer: TestPostgres | undefined;
try {
  pgServer = await startTestPostgres();
  const rows: (string | number)[][] = [['store', 'heartbeats/s', 'refused (not leader)', 'GET /vms median ms', 'p99', 'GET /status median ms', 'durable change median ms', 'p99']];
  // Each controller in its own process, as in production: the load generator's work is not theirs.
  for (const db of [undefined, await pgServer.database()]) {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-ctl-'));
    pki = db ? TestPki.forPostgres(db) : new TestPki();
    await pki.ca();
    const ctl = await controllerProcess(dir, db);
    try {
      const url = await waitFor('controller up', () => ctl.url(), { everyMs: 50 });
      await waitFor('it leads', async () => (await call(url, 'GET', '/api/v1/status', { token: ADMIN })).body?.controller?.role === 'leader');
      rows.push([db ? 'postgres' : 'sqlite', ...(await load(url))]);
    } finally {
      if (ctl.child.pid !== undefined) await terminate(ctl.child.pid, 3000);
      rmSync(dir, { recursive: true, force: true });
    }
  }
  console.log(`\n${HOSTS} hosts, ${VMS} VMs (fake agents), ${SECONDS} s of back-to-back heartbeats, then 20 requests of each kind under 1 beat/s/host:\n`);
  console.log(table(rows));

  const sqliteTimes: number[] = [];
  const pgTimes: number[] = [];
  for (let i = 0; i < TAKEOVERS; i++) {
    sqliteTimes.push(await takeover(undefined));
    pgTimes.push(await takeover(await pgServer.database()));
  }
  console.log(`\nSIGKILL of the controller to the first task accepted, ${TAKEOVERS} runs each (median):\n`);
  console.log(table([
    ['how', 'median ms', 'runs ms'],
    ['sqlite: the one controller restarted at once by hand', ms(median(sqliteTimes)), sqliteTimes.map(ms).join(' ')],
    ['postgres: a standby takes over (lease 2000 ms)', ms(median(pgTimes)), pgTimes.map(ms).join(' ')],
  ]));
} finally {
  await pgServer?.stop();
}
