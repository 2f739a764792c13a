// Boots the demo guest image (build/guest/vmlinuz + build/guest/initrd.img, built by
// guest/build.sh) in real QEMU under TCG and checks what the rest of Ferry relies on:
// heartbeat lines, the memory re-check (and that it can fail), the http workload, the disk
// counter across a graceful power-off, and the balloon driver.
// Every QEMU process started here is killed by PID in a finally block and in after().
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseHeartbeatLine, parseHeartbeats, type Heartbeat } from '../../src/contracts/heartbeat.js';

const repoRoot = resolve(import.meta.dirname, '..', '..', '..');
const kernel = join(repoRoot, 'build', 'guest', 'vmlinuz');
const initrd = join(repoRoot, 'build', 'guest', 'initrd.img');
const MIB = 1024 * 1024;

// Failure limits only; nothing here asserts how fast anything happened.
const BOOT_TIMEOUT_MS = 90_000;
const TEST_TIMEOUT_MS = 300_000;

const running = new Set<ChildProcess>();
const tempDirs: string[] = [];

function killVm(p: ChildProcess): void {
  if (p.pid !== undefined && p.exitCode === null && p.signalCode === null) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  running.delete(p);
}

after(() => {
  for (const p of [...running]) killVm(p);
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'ferry-guest-test-'));
  tempDirs.push(d);
  return d;
}

function requireImage(): void {
  assert.ok(
    existsSync(kernel) && existsSync(initrd),
    `guest image missing: ${kernel} / ${initrd} — run guest/build.sh first`,
  );
}

async function freePort(): Promise<number> {
  return await new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => res(port));
    });
  });
}

// ---- a minimal QMP client (the project's own client lives elsewhere) ----

class Qmp {
  private buf = '';
  private waiters: { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }[] = [];
  private greeted: Promise<void>;
  private closedError: Error | undefined;

  private constructor(private sock: Socket) {
    let greet: () => void = () => {};
    this.greeted = new Promise((res) => (greet = res));
    let sawGreeting = false;
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      this.buf += chunk;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl).trim();
        this.buf = this.buf.slice(nl + 1);
        if (!line) continue;
        const msg = JSON.parse(line) as Record<string, unknown>;
        if ('QMP' in msg && !sawGreeting) {
          sawGreeting = true;
          greet();
        } else if ('return' in msg || 'error' in msg) {
          this.waiters.shift()?.resolve(msg);
        }
        // events are ignored
      }
    });
    const fail = (e: Error): void => {
      this.closedError = e;
      for (const w of this.waiters.splice(0)) w.reject(e);
    };
    sock.on('error', fail);
    sock.on('close', () => fail(new Error('QMP connection closed')));
  }

  static async connect(path: string, timeoutMs = 30_000): Promise<Qmp> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const sock = await new Promise<Socket>((res, rej) => {
          const s = createConnection(path);
          s.once('connect', () => res(s));
          s.once('error', rej);
        });
        const q = new Qmp(sock);
        await q.greeted;
        await q.execute('qmp_capabilities');
        return q;
      } catch (e) {
        if (Date.now() > deadline) throw e;
        await sleep(100);
      }
    }
  }

  async execute(cmd: string, args?: Record<string, unknown>): Promise<unknown> {
    if (this.closedError) throw this.closedError;
    const reply = await new Promise<Record<string, unknown>>((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.sock.write(JSON.stringify(args ? { execute: cmd, arguments: args } : { execute: cmd }) + '\n');
    });
    if ('error' in reply) throw new Error(`QMP ${cmd} failed: ${JSON.stringify(reply.error)}`);
    return reply.return;
  }

  close(): void {
    this.sock.destroy();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((res) => setTimeout(res, ms));
}

// ---- one VM ----

interface VmOptions {
  append: string;
  disk?: string; // qcow2 path
  hostfwdPort?: number; // host port forwarded to guest port 80
  balloon?: boolean;
}

class Vm {
  readonly proc: ChildProcess;
  readonly qmpPath: string;
  output = '';
  private listeners: (() => void)[] = [];
  readonly exited: Promise<number | null>;

  constructor(dir: string, opts: VmOptions) {
    this.qmpPath = join(dir, `qmp-${Date.now()}.sock`);
    const args = [
      '-accel', 'tcg',
      '-m', '256',
      '-smp', '1',
      '-nodefaults', '-no-user-config',
      '-display', 'none',
      '-serial', 'stdio',
      '-qmp', `unix:${this.qmpPath},server=on,wait=off`,
      '-kernel', kernel,
      '-initrd', initrd,
      '-append', `console=ttyS0 quiet panic=-1 ${opts.append}`,
    ];
    if (opts.disk) args.push('-drive', `file=${opts.disk},if=virtio,format=qcow2,cache=none,aio=threads`);
    if (opts.hostfwdPort !== undefined) {
      args.push(
        '-netdev', `user,id=n0,hostfwd=tcp:127.0.0.1:${opts.hostfwdPort}-:80`,
        '-device', 'virtio-net-pci,netdev=n0,romfile=',
      );
    }
    if (opts.balloon) args.push('-device', 'virtio-balloon-pci');
    this.proc = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(this.proc);
    const onData = (chunk: Buffer): void => {
      this.output += chunk.toString('utf8');
      for (const l of this.listeners.splice(0)) l();
    };
    this.proc.stdout?.on('data', onData);
    this.proc.stderr?.on('data', onData);
    this.exited = new Promise((res) => {
      this.proc.once('exit', (code) => {
        running.delete(this.proc);
        for (const l of this.listeners.splice(0)) l();
        res(code);
      });
    });
  }

  // Heartbeats from complete console lines only (a chunk may end in the middle of a line).
  heartbeats(): Heartbeat[] {
    return parseHeartbeats(this.output);
  }

  // Resolves with the first heartbeat satisfying pred; fails on timeout or QEMU exit.
  async waitHeartbeat(pred: (h: Heartbeat) => boolean, what: string, timeoutMs = BOOT_TIMEOUT_MS): Promise<Heartbeat> {
    return await this.waitFor(() => this.heartbeats().find(pred), what, timeoutMs);
  }

  async waitFor<T>(probe: () => T | undefined, what: string, timeoutMs = BOOT_TIMEOUT_MS): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = probe();
      if (v !== undefined) return v;
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) {
        throw new Error(`QEMU exited while waiting for ${what}; console:\n${this.tail()}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; console:\n${this.tail()}`);
      await new Promise<void>((res) => {
        const t = setTimeout(res, Math.min(left, 1000));
        this.listeners.push(() => {
          clearTimeout(t);
          res();
        });
      });
    }
  }

  tail(): string {
    return this.output.split('\n').slice(-25).join('\n');
  }

  kill(): void {
    killVm(this.proc);
  }
}

async function withVm<T>(dir: string, opts: VmOptions, fn: (vm: Vm) => Promise<T>): Promise<T> {
  const vm = new Vm(dir, opts);
  try {
    return await fn(vm);
  } finally {
    vm.kill();
  }
}

// Disk record at sector 0 of the guest's disk (layout documented in guest/src/ferry-guest.c).
interface DiskRecord {
  boots: number;
  counter: number;
  seq: number;
}

function fnv1a(buf: Buffer): number {
  let h = 2166136261;
  for (const b of buf) {
    h ^= b;
    h = Math.imul(h, 16777619) >>> 0;
  }
  return h >>> 0;
}

function readDiskRecord(dir: string, image: string): DiskRecord {
  const raw = join(dir, 'sector0.bin');
  rmSync(raw, { force: true });
  execFileSync('qemu-img', ['dd', '-f', 'qcow2', '-O', 'raw', 'bs=512', 'count=1', `if=${image}`, `of=${raw}`]);
  const b = readFileSync(raw);
  assert.equal(b.subarray(0, 8).toString('latin1'), 'FERRYDSK', 'disk record magic');
  assert.equal(b.readUInt32LE(8), 1, 'disk record version');
  assert.equal(b.readUInt32LE(40), fnv1a(b.subarray(0, 40)), 'disk record checksum');
  return { boots: b.readUInt32LE(12), counter: Number(b.readBigUInt64LE(16)), seq: Number(b.readBigUInt64LE(24)) };
}

function assertConsecutive(hbs: Heartbeat[]): void {
  for (let i = 1; i < hbs.length; i++) {
    assert.equal(hbs[i]!.seq, hbs[i - 1]!.seq + 1, `seq must grow by one: ${JSON.stringify(hbs[i - 1]!.fields)} → ${JSON.stringify(hbs[i]!.fields)}`);
  }
}

test('heartbeat counts up and the dirty workload finds no bad pages', { timeout: TEST_TIMEOUT_MS }, async () => {
  requireImage();
  const dir = tempDir();
  await withVm(dir, { append: 'ferry.workload=dirty:32:64' }, async (vm) => {
    const first = await vm.waitHeartbeat(() => true, 'first heartbeat');
    assert.equal(first.seq, 0, 'first heartbeat has seq=0');
    const ready = await vm.waitHeartbeat((h) => Number(h.fields.dirtied_mib ?? 0) > 0, 'dirty workload running');
    // ~8 s of guest time with the workload running
    const last = await vm.waitHeartbeat((h) => h.seq >= ready.seq + 8, '8 more heartbeats');
    const hbs = vm.heartbeats().filter((h) => h.seq <= last.seq);
    assertConsecutive(hbs);
    for (const h of hbs) assert.equal(h.bad, 0, `bad must stay 0: ${JSON.stringify(h.fields)}`);
    assert.ok(Number(last.fields.dirtied_mib) > Number(ready.fields.dirtied_mib), 'dirtied_mib grows');
    assert.ok(Number(last.fields.verified_mib) > 0, 'pages are verified');
    assert.equal(last.fields.disk, 'none', 'no disk attached');
    assert.doesNotMatch(vm.output, /ferry-bad /);
  });
});

test('a deliberately corrupted page is detected (bad > 0)', { timeout: TEST_TIMEOUT_MS }, async () => {
  requireImage();
  const dir = tempDir();
  await withVm(dir, { append: 'ferry.workload=dirty:32:64 ferry.selftest_corrupt=1' }, async (vm) => {
    const hb = await vm.waitHeartbeat((h) => h.bad > 0, 'bad > 0 after self-test corruption');
    assert.equal(hb.bad, 1, 'exactly the one corrupted page is counted');
    assert.match(vm.output, /ferry-selftest corrupted page=\d+/);
    assert.match(vm.output, /ferry-bad page=\d+ /);
    // the heartbeat keeps going and the count does not grow on its own
    const later = await vm.waitHeartbeat((h) => h.seq >= hb.seq + 3, 'heartbeats after detection');
    assert.equal(later.bad, 1);
    assertConsecutive(vm.heartbeats());
  });
});

test('http workload answers on a forwarded port', { timeout: TEST_TIMEOUT_MS }, async () => {
  requireImage();
  const dir = tempDir();
  const port = await freePort();
  await withVm(dir, { append: 'ferry.workload=http', hostfwdPort: port }, async (vm) => {
    await vm.waitHeartbeat(() => true, 'first heartbeat');
    const get = async (path: string): Promise<{ status: number; body: string }> => {
      // the guest's network may come up a little after its first heartbeat: retry until a limit
      const deadline = Date.now() + 60_000;
      for (;;) {
        try {
          const r = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5000) });
          return { status: r.status, body: await r.text() };
        } catch (e) {
          if (Date.now() > deadline || vm.proc.exitCode !== null) throw e;
          await sleep(250);
        }
      }
    };
    const root = await get('/');
    assert.equal(root.status, 200);
    const hb = parseHeartbeatLine(root.body);
    assert.ok(hb, `GET / returns a heartbeat line, got ${JSON.stringify(root.body)}`);
    assert.equal(hb.bad, 0);
    const health = await get('/health');
    assert.equal(health.status, 200);
    assert.equal(health.body.trim(), 'ok');
    const missing = await get('/nope');
    assert.equal(missing.status, 404);
    await vm.waitHeartbeat((h) => Number(h.fields.http_reqs ?? 0) >= 3, 'http_reqs counted');
  });
});

test('disk counter survives a graceful power-off and continues after reboot', { timeout: TEST_TIMEOUT_MS }, async () => {
  requireImage();
  const dir = tempDir();
  const disk = join(dir, 'disk.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '64M']);

  // first boot: a blank disk
  let lastDisk = 0;
  await withVm(dir, { append: 'ferry.workload=idle', disk }, async (vm) => {
    const first = await vm.waitHeartbeat(() => true, 'first heartbeat');
    assert.equal(first.fields.boots, '1');
    assert.equal(first.fields.disk_prev, '0');
    const hb = await vm.waitHeartbeat((h) => Number(h.fields.disk) >= 3, 'disk counter >= 3');
    lastDisk = Number(hb.fields.disk);
    const qmp = await Qmp.connect(vm.qmpPath);
    try {
      await qmp.execute('system_powerdown');
    } finally {
      qmp.close();
    }
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([
      vm.exited,
      new Promise<'timeout'>((res) => (timer = setTimeout(() => res('timeout'), 60_000))),
    ]).finally(() => clearTimeout(timer));
    assert.notEqual(code, 'timeout', `QEMU did not exit after system_powerdown; console:\n${vm.tail()}`);
    assert.equal(code, 0);
    assert.match(vm.output, /ferry-poweroff disk=\d+ boots=1 synced=1/);
    const finalDisk = Number(/ferry-poweroff disk=(\d+)/.exec(vm.output)?.[1]);
    assert.ok(finalDisk >= lastDisk);
    lastDisk = finalDisk;
  });

  const rec = readDiskRecord(dir, disk);
  assert.equal(rec.boots, 1);
  assert.equal(rec.counter, lastDisk, 'the record holds the last counter written before power-off');

  // second boot: the counter continues from the record
  await withVm(dir, { append: 'ferry.workload=idle', disk }, async (vm) => {
    const first = await vm.waitHeartbeat(() => true, 'first heartbeat after reboot');
    assert.equal(first.seq, 0, 'seq restarts at 0 after a reboot');
    assert.equal(first.fields.boots, '2');
    assert.equal(Number(first.fields.disk_prev), rec.counter);
    assert.ok(Number(first.fields.disk_prev) > 0);
    const later = await vm.waitHeartbeat((h) => h.seq >= 3, 'a few heartbeats');
    assert.equal(Number(later.fields.disk), rec.counter + later.seq, 'disk = disk_prev + seconds since boot');
  });
});

test('balloon: query-balloon reports the new target; unknown workloads are reported', { timeout: TEST_TIMEOUT_MS }, async () => {
  requireImage();
  const dir = tempDir();
  await withVm(dir, { append: 'ferry.workload=idle,bogus', balloon: true }, async (vm) => {
    const first = await vm.waitHeartbeat(() => true, 'first heartbeat');
    assert.match(first.fields.err ?? '', /unknown-workload:bogus/);
    assert.match(vm.output, /ferry-error unknown workload 'bogus'/);
    const qmp = await Qmp.connect(vm.qmpPath);
    try {
      const before = (await qmp.execute('query-balloon')) as { actual: number };
      assert.equal(before.actual, 256 * MIB);
      await qmp.execute('balloon', { value: 192 * MIB });
      const deadline = Date.now() + 60_000;
      let actual = before.actual;
      while (actual !== 192 * MIB) {
        assert.ok(Date.now() < deadline, `balloon did not reach 192 MiB (actual ${actual}); console:\n${vm.tail()}`);
        await sleep(250);
        actual = ((await qmp.execute('query-balloon')) as { actual: number }).actual;
      }
    } finally {
      qmp.close();
    }
    const hb = vm.heartbeats().at(-1)!;
    await vm.waitHeartbeat((h) => h.seq >= hb.seq + 2, 'heartbeats after ballooning');
    assertConsecutive(vm.heartbeats());
  });
});
