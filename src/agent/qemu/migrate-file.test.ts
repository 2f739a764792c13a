// runMigration against a scripted QMP server: it turns QEMU's `events` capability on, starts the
// stream, and ends on the MIGRATION event that ends it — completed, or failed with QEMU's reason.
import { strict as assert } from 'node:assert';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { QmpMessage } from '../../qmp/parser.js';
import { vmOnFakeQmp, type VmOnFakeQmp } from '../../testing/agent.js';
import type { FakeConnection } from '../../testing/qmp-fake-server.js';
import { AgentAbortedError, QemuCommandError, QemuMigrationError } from '../errors.js';
import type { VmRuntime } from '../vm-runtime.js';
import { runMigration } from './migrate-file.js';
import { qmp } from './monitor.js';

describe('runMigration', () => {
  let fake: VmOnFakeQmp;
  let conn: FakeConnection;
  let vm: VmRuntime;
  const begin = () => runMigration(vm, (call) => qmp(vm, 'migrate', { uri: 'file:/x' }, call), { timeoutMs: 60_000 });

  beforeEach(async () => {
    fake = await vmOnFakeQmp();
    ({ conn, vm } = fake);
  });
  afterEach(() => fake.close());

  /** Answers migrate-set-capabilities (checking it asks for events) and returns the `migrate` command. */
  async function started(): Promise<QmpMessage> {
    const caps = await conn.next();
    assert.equal(caps.execute, 'migrate-set-capabilities');
    assert.deepEqual(caps.arguments, { capabilities: [{ capability: 'events', state: true }] });
    conn.send({ return: {}, id: caps.id });
    const cmd = await conn.next();
    assert.equal(cmd.execute, 'migrate');
    return cmd;
  }

  it('resolves on MIGRATION completed, not on the states before it', async () => {
    let ended = false;
    const done = begin().then(() => (ended = true));
    const cmd = await started();
    conn.send({ return: {}, id: cmd.id });
    conn.event('MIGRATION', { status: 'setup' });
    conn.event('MIGRATION', { status: 'active' });
    // A round trip through the client: had an earlier state ended the wait, `ended` would be set.
    const ping = qmp(vm, 'query-name');
    const q = await conn.next();
    conn.send({ return: {}, id: q.id });
    await ping;
    assert.equal(ended, false);
    conn.event('MIGRATION', { status: 'completed' });
    await done;
  });

  it('a failed stream is QemuMigrationError with QEMU\'s error-desc', async () => {
    const done = begin();
    const cmd = await started();
    conn.send({ return: {}, id: cmd.id });
    conn.event('MIGRATION', { status: 'failed' });
    const q = await conn.next();
    assert.equal(q.execute, 'query-migrate');
    conn.send({ return: { status: 'failed', 'error-desc': 'disk full' }, id: q.id });
    await assert.rejects(done, (err: unknown) => err instanceof QemuMigrationError && err.code === 'QEMU_FAILED' && /failed: disk full/.test(err.message));
  });

  it('QEMU refusing to start the stream is its error, and the event wait is dropped', async () => {
    const done = begin();
    const cmd = await started();
    conn.send({ error: { class: 'GenericError', desc: 'no such file' }, id: cmd.id });
    await assert.rejects(done, (err: unknown) => err instanceof QemuCommandError && /no such file/.test(err.message));
  });

  it('the caller\'s signal ends the wait', async () => {
    const ac = new AbortController();
    const done = runMigration(vm, (call) => qmp(vm, 'migrate', { uri: 'file:/x' }, call), { timeoutMs: 60_000, signal: ac.signal });
    const cmd = await started();
    conn.send({ return: {}, id: cmd.id });
    conn.event('MIGRATION', { status: 'active' });
    ac.abort();
    await assert.rejects(done, AgentAbortedError);
  });
});
