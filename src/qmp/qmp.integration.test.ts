// Integration tests against a real QEMU (qemu-system-x86_64, TCG). Each test boots its own
// paused VM with no devices and kills it by PID afterwards, whatever happened.
import { strict as assert } from 'node:assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { QmpClient, QmpCommandError, QmpConnectError, QmpDisconnectedError, type QmpCommands } from './index.js';

const QEMU = 'qemu-system-x86_64';
const hasQemu = spawnSync(QEMU, ['--version']).status === 0;

// Every command in QmpCommands; the type assertion below fails to compile if one is missing.
const TYPED_COMMANDS = [
  'qmp_capabilities', 'query-status', 'stop', 'cont', 'system_powerdown', 'system_reset', 'quit',
  'query-version', 'query-name', 'query-uuid', 'query-cpus-fast', 'balloon', 'query-balloon',
  'human-monitor-command', 'device_del', 'migrate', 'migrate-incoming', 'migrate_cancel',
  'migrate-start-postcopy', 'migrate-continue', 'migrate-set-capabilities', 'query-migrate-capabilities',
  'migrate-set-parameters', 'query-migrate-parameters', 'query-migrate', 'calc-dirty-rate', 'query-dirty-rate',
  'query-block', 'query-blockstats', 'blockdev-add', 'blockdev-del', 'blockdev-mirror', 'blockdev-backup',
  'block-job-cancel', 'block-job-complete', 'query-block-jobs', 'block-dirty-bitmap-add',
  'block-dirty-bitmap-remove', 'block-dirty-bitmap-clear', 'block-dirty-bitmap-merge', 'transaction',
  'nbd-server-start', 'nbd-server-stop', 'block-export-add', 'block-export-del', 'getfd', 'closefd',
  'object-add', 'object-del', 'qom-set', 'qom-get', 'qom-list', 'netdev_add', 'netdev_del', 'announce-self', 'query-qmp-schema',
  'block-commit',
] as const satisfies ReadonlyArray<keyof QmpCommands>;
type Untested = Exclude<keyof QmpCommands, (typeof TYPED_COMMANDS)[number]>;
const allListed: [Untested] extends [never] ? true : Untested = true;

class Vm {
  readonly dir = mkdtempSync(join(tmpdir(), 'ferry-qmp-it-'));
  readonly socketPath = join(this.dir, 'qmp.sock');
  readonly proc: ChildProcess;
  stderr = '';

  constructor() {
    this.proc = spawn(
      QEMU,
      ['-accel', 'tcg', '-machine', 'q35', '-nodefaults', '-no-user-config', '-display', 'none', '-S', '-m', '64',
        '-qmp', `unix:${this.socketPath},server=on,wait=off`],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.proc.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString()));
  }

  /** connect() is retry-free by design; the socket appears a moment after spawn. */
  async connect(): Promise<QmpClient> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        return await QmpClient.connect(this.socketPath, { timeoutMs: 5_000 });
      } catch (err) {
        if (!(err instanceof QmpConnectError) || Date.now() > deadline || this.proc.exitCode !== null) {
          throw new Error(`cannot connect to QEMU: ${String(err)}\n${this.stderr}`, { cause: err });
        }
        await sleep(20);
      }
    }
  }

  async kill(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null && this.proc.pid !== undefined) {
      const exited = once(this.proc, 'exit');
      process.kill(this.proc.pid, 'SIGKILL');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

describe('QmpClient against real QEMU', { skip: !hasQemu && `${QEMU} not installed` }, () => {
  let vm: Vm;
  let client: QmpClient | undefined;

  beforeEach(() => {
    vm = new Vm();
  });
  afterEach(async () => {
    client?.destroy();
    client = undefined;
    await vm.kill();
  });

  it('connects, reads the greeting and queries status and version', async () => {
    client = await vm.connect();
    assert.equal(client.greeting.QMP.version.qemu.major >= 10, true);
    assert.deepEqual(await client.execute('query-status'), { status: 'prelaunch', running: false });
    const version = await client.execute('query-version');
    assert.deepEqual(version.qemu, client.greeting.QMP.version.qemu);
    assert.equal(typeof version.package, 'string');
    const cpus = await client.execute('query-cpus-fast');
    assert.equal(cpus[0]?.target, 'x86_64');
    assert.deepEqual(await client.execute('query-migrate'), {});
  });

  it('reports QEMU command errors verbatim', async () => {
    client = await vm.connect();
    const balloon = await client.execute('balloon', { value: 32 << 20 }).catch((e: unknown) => e);
    assert.ok(balloon instanceof QmpCommandError);
    assert.equal(balloon.qemuClass, 'DeviceNotActive');
    assert.equal(balloon.desc, 'No balloon device has been activated');

    const unknown = await client.executeRaw('ferry-no-such-command').catch((e: unknown) => e);
    assert.ok(unknown instanceof QmpCommandError);
    assert.equal(unknown.qemuClass, 'CommandNotFound');
    assert.match(unknown.desc, /ferry-no-such-command/);

    // The connection is still usable after errors.
    assert.equal((await client.execute('query-status')).status, 'prelaunch');
  });

  it('delivers RESUME and STOP events through waitForEvent', async () => {
    client = await vm.connect();
    const resumed = client.waitForEvent('RESUME');
    await client.execute('cont');
    const ev = await resumed;
    assert.equal(ev.event, 'RESUME');
    assert.equal(typeof ev.timestamp.seconds, 'number');
    assert.equal((await client.execute('query-status')).running, true);

    const stopped = client.waitForEvent('STOP');
    await client.execute('stop');
    await stopped;
    assert.deepEqual(await client.execute('query-status'), { status: 'paused', running: false });
  });

  it('closes gracefully and can reconnect to the same monitor', async () => {
    client = await vm.connect();
    await client.execute('query-status');
    await client.close();
    assert.equal(client.closed, true);
    client = await vm.connect();
    assert.equal((await client.execute('query-status')).status, 'prelaunch');
  });

  it('rejects a pending call with QmpDisconnectedError when QEMU is killed', async () => {
    client = await vm.connect();
    const closed = once(client, 'close');
    const pid = vm.proc.pid!;
    // Freeze QEMU so the call is certainly still pending, then kill -9 it.
    process.kill(pid, 'SIGSTOP');
    const pending = client.execute('query-status');
    await sleep(50);
    process.kill(pid, 'SIGKILL');
    await assert.rejects(pending, QmpDisconnectedError);
    const [err] = (await closed) as [Error | undefined];
    assert.ok(err instanceof Error);
    assert.equal(client.closed, true);
  });

  it('knows every typed command (checked against query-qmp-schema)', async () => {
    assert.equal(allListed, true);
    client = await vm.connect();
    const schema = await client.execute('query-qmp-schema');
    const commands = new Set(schema.filter((e) => e['meta-type'] === 'command').map((e) => e.name));
    const missing = TYPED_COMMANDS.filter((name) => !commands.has(name));
    assert.deepEqual(missing, []);
  });
});
