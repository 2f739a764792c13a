// The fence guard with stand-in QEMUs (node processes whose command line carries a uuid and a
// -pidfile under the data dir, as QEMU's does): fencing kills every leased one at once, before
// the lease ends, when the host reaches no peer; a host that reaches its peer holds on after the
// lease; a cut link then fences it; a peer whose guard is stopped is still heard through its
// host; a stepped wall clock changes nothing.
import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { monoNowMs } from './clock.js';
import { waitFor } from '../../testing/wait-for.js';
import { ensureFenceDir, fencePaths, readJson, writeJsonAtomic, type Feed, type FeedVm, type GuardStatus } from './files.js';
import { FenceGuard } from './guard.js';
import { FenceFeeder } from '../fencing.js';
import type { VmManager } from '../manager.js';
import { killAllNow } from './qemu-procs.js';
import { PING_PATH } from './peer-link.js';
import { connect, createServer, type Socket } from 'node:net';
import { once } from 'node:events';

const SECRET = 'guard-test-secret';
const dirs: string[] = [];
const pids: number[] = [];
const guards: FenceGuard[] = [];

function dataDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'ferry-guard-'));
  dirs.push(d);
  return d;
}

/** A process that looks like QEMU of VM `name` to the guard. */
function fakeQemu(dir: string, name: string, uuid = randomUUID()): FeedVm {
  mkdirSync(join(dir, 'vms', name), { recursive: true });
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e9)', '--', '-uuid', uuid, '-pidfile', join(dir, 'vms', name, 'qemu.pid')], { stdio: 'ignore' });
  pids.push(child.pid!);
  return { name, uuid, pid: child.pid! };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function startGuard(dir: string, host: string, timing = { windowMs: 1500, aheadMs: 1000 }): Promise<FenceGuard> {
  const g = new FenceGuard({ dataDir: dir, host, listenHost: '127.0.0.1', secret: SECRET, faultHooks: true, timing });
  guards.push(g);
  await g.start();
  return g;
}

const feed = (dir: string, f: Feed): void => writeJsonAtomic(ensureFenceDir(dir).feed, f);
const status = (dir: string): GuardStatus | undefined => readJson<GuardStatus>(fencePaths(dir).status);

afterEach(async () => {
  await Promise.all(guards.splice(0).map((g) => g.close()));
  killAllNow(pids.splice(0));
});
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('fence guard', () => {
  it('cut off when the lease ends: every leased QEMU SIGKILLed at once, before the end; others left alone', async () => {
    const dir = dataDir();
    const [a, b, other] = [fakeQemu(dir, 'a'), fakeQemu(dir, 'b'), fakeQemu(dir, 'other')];
    const expiresAtMs = monoNowMs() + 1500;
    feed(dir, { host: 'h1', fedAtMs: monoNowMs(), lease: { expiresAtMs, leaseMs: 1500, vms: [a, b] }, cluster: { hosts: 1, guards: [] } });
    const g = await startGuard(dir, 'h1');
    assert.equal(g.state, 'leased');
    await waitFor('a and b killed', () => !alive(a.pid!) && !alive(b.pid!));
    const st = await waitFor('the fencing noted', () => (status(dir)?.fenced.length === 2 ? status(dir) : undefined));
    for (const f of st!.fenced) assert.ok(f.atMs < expiresAtMs, `fenced at ${f.atMs}, lease ended at ${expiresAtMs}`);
    assert.equal(st!.fenced[0]!.atMs, st!.fenced[1]!.atMs, 'one kill for all');
    assert.ok(alive(other.pid!), 'a VM the lease does not name keeps running');
    await waitFor('state fenced', () => g.state === 'fenced');
  });

  it('holds on after the lease while it reaches its peer, and fences once the link is cut', async () => {
    const [d1, d2] = [dataDir(), dataDir()];
    const vm = fakeQemu(d1, 'web');
    const g2 = await startGuard(d2, 'h2');
    const g1 = await startGuard(d1, 'h1');
    const cluster = { hosts: 2, guards: [{ host: 'h1', url: readJson<{ url: string }>(fencePaths(d1).guard)!.url }, { host: 'h2', url: readJson<{ url: string }>(fencePaths(d2).guard)!.url }] };
    feed(d2, { host: 'h2', fedAtMs: monoNowMs(), cluster });
    feed(d1, { host: 'h1', fedAtMs: monoNowMs(), lease: { expiresAtMs: monoNowMs() + 3000, leaseMs: 3000, vms: [vm] }, cluster });
    await waitFor('h1 holding after its lease', () => g1.state === 'holding');
    await sleep(2000);
    assert.equal(g1.state, 'holding');
    assert.ok(alive(vm.pid!), 'not cut off: the VM runs on');
    // What h2 heard from h1: its VM runs, its agent is gone (there is none in this test).
    const heard = status(d2)?.contacts.find((c) => c.host === 'h1');
    assert.deepEqual(heard?.self, { agent: 'gone', vms: [{ name: 'web', uuid: vm.uuid, running: true }] });
    writeFileSync(fencePaths(d1).faultLinkDown, '');
    await waitFor('h1 fenced once cut off', () => !alive(vm.pid!));
    assert.ok(['fencing', 'fenced'].includes(g1.state as string), g1.state);
    void g2;
  });

  it('a peer that gives up mid-ping does not take the guard down', async () => {
    const [d1, d2] = [dataDir(), dataDir()];
    await startGuard(d1, 'h1');
    const url = new URL(readJson<{ url: string }>(fencePaths(d1).guard)!.url);
    for (let i = 0; i < 3; i++) {
      const sock = connect(Number(url.port), url.hostname);
      await once(sock, 'connect');
      sock.write(`POST ${PING_PATH} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${SECRET}\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{"from":`);
      await sleep(50);
      sock.destroy();
    }
    const g2 = await startGuard(d2, 'h2');
    feed(d2, { host: 'h2', fedAtMs: monoNowMs(), cluster: { hosts: 2, guards: [{ host: 'h1', url: url.origin }] } });
    await waitFor('h1 heard by h2 after the aborted pings', () => status(d2)?.contacts.some((c) => c.host === 'h1'));
    void g2;
  });

  it('a peer whose guard is stopped but whose host answers TCP is heard (its old words dropped); a refused port is not', async () => {
    // A stopped guard's listening socket still completes handshakes; it never answers a ping.
    const held: Socket[] = [];
    const frozen = createServer((sock) => void held.push(sock));
    frozen.listen(0, '127.0.0.1');
    await once(frozen, 'listening');
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const closedPort = (closed.address() as { port: number }).port;
    await new Promise((r) => closed.close(r));
    try {
      const d2 = dataDir();
      const g2 = await startGuard(d2, 'h2');
      const guards = [{ host: 'h1', url: `http://127.0.0.1:${(frozen.address() as { port: number }).port}` }, { host: 'h3', url: `http://127.0.0.1:${closedPort}` }];
      feed(d2, { host: 'h2', fedAtMs: monoNowMs(), cluster: { hosts: 3, guards } });
      const st = await waitFor('h1 heard through its host', () => status(d2)?.contacts.find((c) => c.host === 'h1') ? status(d2) : undefined, { timeoutMs: 15_000 });
      assert.equal(st!.contacts.find((c) => c.host === 'h1')!.self, undefined);
      await sleep(1500);
      assert.equal(status(d2)?.contacts.some((c) => c.host === 'h3'), false, 'a refused connection is no contact');
      void g2;
    } finally {
      for (const sock of held) sock.destroy();
      frozen.close();
    }
  });

  it('a stepped wall clock neither keeps an old lease alive nor ends a fresh one early', async () => {
    const dir = dataDir();
    const vm = fakeQemu(dir, 'web');
    const mgr = { vms: new Map([['web', { rec: { spec: { uuid: vm.uuid }, pid: vm.pid } }]]) } as unknown as VmManager;
    const feeder = new FenceFeeder(mgr, { dataDir: dir, host: 'h1', listenHost: '127.0.0.1', secret: SECRET });
    const realNow = Date.now;
    try {
      Date.now = () => realNow() + 3_600_000;
      feeder.renew({ intervalMs: 1000, fence: { leaseMs: 1500, vms: ['web'] } });
      Date.now = () => realNow() - 3_600_000; // stepped back: the lease must not look fresh for an hour
      const g = await startGuard(dir, 'h1');
      assert.equal(g.state, 'leased', 'a stepped-forward clock did not end it early');
      await waitFor('fenced on time despite the step back', () => !alive(vm.pid!), { timeoutMs: 5000, everyMs: 50 });
    } finally {
      Date.now = realNow;
    }
  });
});
