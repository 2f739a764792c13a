// The capture driver against a scripted QMP server: the order of its commands (the guest runs
// again only after QEMU counted pages), events answered before the command's own reply (so a
// waiter registered late would miss them), refusals, and a teardown that undoes what the state
// it ended in may have done, once. Disk images are real (qemu-img); QEMU itself is faked.
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QmpClient } from '../../qmp/index.js';
import { FakeQmpServer, type FakeConnection } from '../../testing/qmp-fake-server.js';
import { demoSpec } from '../../testing/agent.js';
import type { QmpMessage } from '../../qmp/parser.js';
import { AgentAbortedError, QemuCommandError } from '../errors.js';
import { diskFile } from '../vm-dir.js';
import { VmRuntime } from '../vm-runtime.js';
import { CheckpointCapture, type CaptureOptions } from './capture.js';
import { BlockJobError } from './errors.js';
import { TransitionRefusedError } from '../errors.js';
import { MEMORY_FILE } from './memory-file.js';

type Reply = unknown;
type Handler = (cmd: QmpMessage, conn: FakeConnection) => Reply | Promise<Reply>;

class QmpError extends Error {}

/** Answers every command with `handle` (an Error becomes a QMP error reply) and logs its name. */
function serve(conn: FakeConnection, handle: Handler): string[] {
  const seen: string[] = [];
  void (async () => {
    for (;;) {
      const cmd = await conn.next();
      seen.push(String(cmd.execute));
      const r = await handle(cmd, conn);
      conn.send(r instanceof QmpError ? { error: { class: 'GenericError', desc: r.message }, id: cmd.id } : { return: r ?? {}, id: cmd.id });
    }
  })();
  return seen;
}

const migration = (conn: FakeConnection, status: string): void => conn.event('MIGRATION', { status });

describe('checkpoint capture driver', { timeout: 30_000 }, () => {
  let server: FakeQmpServer;
  let conn: FakeConnection;
  let client: QmpClient;
  let dataDir: string;
  let work: string;

  beforeEach(async () => {
    server = await FakeQmpServer.start();
    [client, conn] = await Promise.all([QmpClient.connect(server.path), server.connection()]);
    dataDir = mkdtempSync(join(tmpdir(), 'ferry-capture-'));
  });
  afterEach(async () => {
    client.destroy();
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  function vmWith(disks: number): VmRuntime {
    const vm = new VmRuntime(dataDir, { spec: demoSpec('c1', { disks: Array.from({ length: disks }, () => ({ sizeMiB: 1 })) }), state: 'running', endpoints: [] });
    mkdirSync(vm.paths.dir, { recursive: true });
    for (let i = 0; i < disks; i++) execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', diskFile(vm.paths.dir, i), '1M']);
    writeFileSync(vm.paths.consoleLog, 'ferry-heartbeat seq=41 bad=0\nferry-heartbeat seq=42 bad=0\n');
    vm.qmp = client;
    work = join(vm.paths.dir, 'checkpoint-1');
    return vm;
  }

  const opts = (over: Partial<CaptureOptions> = {}): CaptureOptions => ({ leavePaused: false, signal: new AbortController().signal, ...over });

  /** A QEMU whose snapshot goes setup → active, counts pages on the second query, and completes once the guest runs. */
  function snapshotting(extra: Handler = () => ({})): Handler {
    let queries = 0;
    return (cmd, c) => {
      switch (cmd.execute) {
        case 'migrate':
          writeFileSync(join(work, MEMORY_FILE), Buffer.alloc(8192, 1));
          migration(c, 'setup');
          migration(c, 'active'); // before the reply: only a waiter registered before `migrate` sees it
          return {};
        case 'query-migrate':
          queries++;
          return { status: 'active', ram: { normal: queries >= 2 ? 5 : 0, duplicate: 0 } };
        case 'cont':
          setImmediate(() => migration(c, 'completed'));
          return {};
        default:
          return extra(cmd, c);
      }
    };
  }

  it('pauses for the instant only: stop, snapshot, cont once RAM is write-protected; the result names the files', async () => {
    const vm = vmWith(0);
    const seen = serve(conn, snapshotting());
    const capture = new CheckpointCapture(vm, join(vm.paths.dir, 'checkpoint-1'), opts());
    const cap = await capture.run();
    assert.deepEqual(seen, ['migrate-set-capabilities', 'migrate-set-parameters', 'stop', 'migrate', 'query-migrate', 'query-migrate', 'cont']);
    assert.equal(capture.state, 'captured');
    assert.equal(cap.guestSeq, 42);
    assert.deepEqual(cap.files.map((f) => [f.name, f.size]), [[MEMORY_FILE, 8192]]);
    assert.equal(cap.memoryBytes, 128 * 1024 * 1024);
    await capture.release();
    await capture.release();
    assert.equal(capture.state, 'released');
    assert.equal(existsSync(work), false, 'the capture removed its files');
    assert.equal(seen.length, 7, 'releasing a capture without disks asks nothing of QEMU');
  });

  it('leaves the guest paused for a planned failover', async () => {
    const vm = vmWith(0);
    const base = snapshotting();
    const seen = serve(conn, (cmd, c) => {
      if (cmd.execute === 'query-migrate') setImmediate(() => migration(c, 'completed'));
      return base(cmd, c);
    });
    await new CheckpointCapture(vm, work, opts({ leavePaused: true })).run();
    assert.equal(seen.includes('cont'), false);
  });

  it('switches every disk to its overlay at the instant and merges them back on release, waiting on job events', async () => {
    const vm = vmWith(2);
    const seen = serve(conn, snapshotting((cmd, c) => {
      const args = cmd.arguments as { 'job-id'?: string; device?: string };
      if (cmd.execute === 'block-commit') c.event('BLOCK_JOB_READY', { type: 'commit', device: args['job-id'], len: 1, offset: 1, speed: 0 });
      if (cmd.execute === 'block-job-complete') {
        c.event('BLOCK_JOB_COMPLETED', { type: 'commit', device: args.device, len: 1, offset: 1, speed: 0 });
        c.event('JOB_STATUS_CHANGE', { id: args.device, status: 'concluded' });
        c.event('JOB_STATUS_CHANGE', { id: args.device, status: 'null' });
      }
      return {};
    }));
    const capture = new CheckpointCapture(vm, work, opts());
    const cap = await capture.run();
    assert.deepEqual(seen.slice(0, 9), ['migrate-set-capabilities', 'migrate-set-parameters', 'blockdev-add', 'blockdev-add', 'stop', 'transaction', 'migrate', 'query-migrate', 'query-migrate']);
    assert.deepEqual(cap.files.map((f) => f.name), [MEMORY_FILE, 'disk0', 'disk1']);
    assert.equal(cap.diskBytes, 2 * 1024 * 1024);
    const before = seen.length;
    await capture.release();
    assert.deepEqual(seen.slice(before), ['block-commit', 'block-job-complete', 'blockdev-del', 'block-commit', 'block-job-complete', 'blockdev-del']);
  });

  it('a merge that fails is reported by release, once; the overlay node is still deleted and the files removed', async () => {
    const vm = vmWith(1);
    const seen = serve(conn, snapshotting((cmd, c) => {
      const args = cmd.arguments as { 'job-id'?: string };
      if (cmd.execute === 'block-commit') c.event('BLOCK_JOB_COMPLETED', { type: 'commit', device: args['job-id'], len: 1, offset: 0, speed: 0, error: 'No space left on device' });
      return {};
    }));
    const capture = new CheckpointCapture(vm, work, opts());
    await capture.run();
    const before = seen.length;
    await assert.rejects(capture.release(), (e) => e instanceof BlockJobError && e.code === 'QEMU_FAILED' && /ended before it was ready: No space/.test(e.message));
    await assert.rejects(capture.release(), /ended before it was ready/);
    assert.deepEqual(seen.slice(before), ['block-commit', 'blockdev-del']);
    assert.equal(existsSync(work), false);
  });

  it('a failed snapshot: cancelled, the guest runs again, overlays merged back and dropped, files removed; the teardown runs once', async () => {
    const vm = vmWith(1);
    const seen = serve(conn, (cmd, c) => {
      const args = cmd.arguments as { 'job-id'?: string; device?: string };
      if (cmd.execute === 'migrate') return new QmpError('There is a migration in progress');
      if (cmd.execute === 'block-commit') c.event('BLOCK_JOB_READY', { type: 'commit', device: args['job-id'], len: 1, offset: 1, speed: 0 });
      if (cmd.execute === 'block-job-complete') {
        c.event('BLOCK_JOB_COMPLETED', { type: 'commit', device: args.device, len: 1, offset: 1, speed: 0 });
        c.event('JOB_STATUS_CHANGE', { id: args.device, status: 'null' });
      }
      return {};
    });
    const capture = new CheckpointCapture(vm, work, opts());
    await assert.rejects(capture.run(), (e) => e instanceof QemuCommandError && e.code === 'QEMU_FAILED' && /migration in progress/.test(e.message));
    assert.equal(capture.state, 'failed');
    assert.deepEqual(seen, [
      'migrate-set-capabilities', 'migrate-set-parameters', 'blockdev-add', 'stop', 'transaction', 'migrate',
      'migrate_cancel', 'cont', 'block-commit', 'block-job-complete', 'blockdev-del',
    ]);
    await capture.release();
    assert.equal(seen.length, 11, 'release after a failure is the same, finished teardown');
    assert.equal(existsSync(work), false);
  });

  it('an abort while waiting for the write protection ends the capture as ABORTED and lets the guest run again', async () => {
    const vm = vmWith(0);
    const ac = new AbortController();
    const base = snapshotting();
    const seen = serve(conn, (cmd, c) => {
      if (cmd.execute === 'query-migrate') {
        ac.abort();
        return { status: 'active', ram: { normal: 0, duplicate: 0 } };
      }
      return base(cmd, c);
    });
    const capture = new CheckpointCapture(vm, work, opts({ signal: ac.signal }));
    await assert.rejects(capture.run(), (e) => e instanceof AgentAbortedError && e.code === 'ABORTED');
    assert.deepEqual(seen.slice(-2), ['migrate_cancel', 'cont']);
    assert.equal(capture.state, 'failed');
  });

  it('refuses to release a capture under way and to run one twice', async () => {
    const vm = vmWith(0);
    let stopped!: () => void;
    const atStop = new Promise<void>((resolve) => (stopped = resolve));
    const base = snapshotting();
    serve(conn, (cmd, c) => {
      if (cmd.execute === 'stop') stopped();
      return base(cmd, c);
    });
    const capture = new CheckpointCapture(vm, work, opts());
    const run = capture.run();
    await atStop;
    await assert.rejects(capture.release(), (e) => e instanceof TransitionRefusedError && e.code === 'INVALID_STATE');
    await assert.rejects(capture.run(), TransitionRefusedError);
    await run;
    await capture.release();
  });
});
