// How the drivers follow QEMU's migration stream, against a scripted QMP server: every MIGRATION
// event in order (also several in one socket read), the end of a watch, the wait after a cancel
// (an event, not a poll), and the second question when a completed stream still says total-time 0.
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { QmpClient, type MigrationStatus } from '../../qmp/index.js';
import { FakeQmpServer, type FakeConnection } from '../../testing/qmp-fake-server.js';
import type { VmSpec } from '../../contracts/index.js';
import { AgentAbortedError, QemuUnreachableError } from '../errors.js';
import { VmRuntime } from '../vm-runtime.js';
import { cancelMigration, completedInfo, watchMigration } from './qemu-migration.js';

const event = (status: string): string => `${JSON.stringify({ event: 'MIGRATION', data: { status }, timestamp: { seconds: 1, microseconds: 0 } })}\r\n`;

describe('following QEMU migration streams', () => {
  let server: FakeQmpServer;
  let conn: FakeConnection;
  let vm: VmRuntime;

  beforeEach(async () => {
    server = await FakeQmpServer.start();
    vm = new VmRuntime('/nonexistent', { spec: { name: 'v1' } as VmSpec, state: 'running', endpoints: [] });
    [vm.qmp, conn] = await Promise.all([QmpClient.connect(server.path), server.connection()]);
  });
  afterEach(async () => {
    vm.qmp?.destroy();
    await server.close();
  });

  it('a watch sees every status change in order, several in one read too, until its signal fires', async () => {
    const seen: MigrationStatus[] = [];
    const stop = new AbortController();
    const watch = watchMigration(vm, (s) => {
      seen.push(s);
      if (s === 'completed') stop.abort();
    }, stop.signal);
    conn.send(event('setup'));
    conn.send(event('active') + event('device') + event('completed'));
    await assert.rejects(watch, AgentAbortedError);
    assert.deepEqual(seen, ['setup', 'active', 'device', 'completed']);
  });

  it('a watch ends with QemuUnreachableError when QEMU goes away', async () => {
    const watch = watchMigration(vm, () => undefined, new AbortController().signal);
    conn.socket.destroy();
    await assert.rejects(watch, QemuUnreachableError);
  });

  it('after migrate_cancel, an active stream is waited for until its MIGRATION event says it is over', async () => {
    let over = false;
    const cancelled = cancelMigration(vm, 5_000).then(() => void (over = true));
    const cancel = await conn.next();
    assert.equal(cancel.execute, 'migrate_cancel');
    conn.send({ return: {}, id: cancel.id });
    const query = await conn.next();
    assert.equal(query.execute, 'query-migrate');
    conn.send({ return: { status: 'cancelling' }, id: query.id });
    conn.send(event('cancelling'));
    await new Promise((r) => setImmediate(r));
    assert.equal(over, false);
    conn.send(event('cancelled'));
    await cancelled;
    assert.equal(over, true);
  });

  // If it waited, it would wait for an hour: the test's own timeout fails it first.
  it('after migrate_cancel, a stream that is already over is not waited for', { timeout: 30_000 }, async () => {
    const cancelled = cancelMigration(vm, 3_600_000);
    const cancel = await conn.next();
    conn.send({ error: { class: 'GenericError', desc: 'no migration in progress' }, id: cancel.id });
    const query = await conn.next();
    conn.send({ return: { status: 'completed' }, id: query.id });
    await cancelled;
  });

  it('a completed stream is asked again while its total-time is still 0', async () => {
    const info = completedInfo(vm, new AbortController().signal);
    const first = await conn.next();
    conn.send({ return: { status: 'completed', 'total-time': 0, downtime: 3 }, id: first.id });
    const second = await conn.next();
    assert.equal(second.execute, 'query-migrate');
    conn.send({ return: { status: 'completed', 'total-time': 900, downtime: 3 }, id: second.id });
    assert.deepEqual(await info, { status: 'completed', 'total-time': 900, downtime: 3 });
  });
});
