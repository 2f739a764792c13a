// setRunning against a scripted QMP server: QEMU's STOP/RESUME confirms a run-state change, and
// when QEMU announces nothing (the VM already was there, or QEMU ignored the command) its
// query-status decides.
import { strict as assert } from 'node:assert';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { vmOnFakeQmp, type VmOnFakeQmp } from '../../testing/agent.js';
import type { FakeConnection } from '../../testing/qmp-fake-server.js';
import { QemuCommandError } from '../errors.js';
import type { VmRuntime } from '../vm-runtime.js';
import { setRunning } from './run-state.js';

describe('setRunning', () => {
  let fake: VmOnFakeQmp;
  let conn: FakeConnection;
  let vm: VmRuntime;

  beforeEach(async () => {
    fake = await vmOnFakeQmp();
    ({ conn, vm } = fake);
  });
  afterEach(() => fake.close());

  it('stop is confirmed by STOP, which QEMU sends before its reply', async () => {
    const done = setRunning(vm, false);
    const cmd = await conn.next();
    assert.equal(cmd.execute, 'stop');
    conn.event('STOP');
    conn.send({ return: {}, id: cmd.id });
    await done;
  });

  it('stop of a VM QEMU already holds paused: no STOP, query-status confirms', async () => {
    const done = setRunning(vm, false);
    const cmd = await conn.next();
    conn.send({ return: {}, id: cmd.id });
    const q = await conn.next();
    assert.equal(q.execute, 'query-status');
    conn.send({ return: { running: false, status: 'paused' }, id: q.id });
    await done;
  });

  it('cont that QEMU ignores (still inmigrate) is refused with QEMU_FAILED', async () => {
    const done = setRunning(vm, true);
    const cmd = await conn.next();
    assert.equal(cmd.execute, 'cont');
    conn.send({ return: {}, id: cmd.id });
    const q = await conn.next();
    conn.send({ return: { running: false, status: 'inmigrate' }, id: q.id });
    await assert.rejects(done, (err: unknown) => err instanceof QemuCommandError && err.code === 'QEMU_FAILED' && /inmigrate/.test(err.message));
  });

  it('QEMU refusing the command is its error, not a wait', async () => {
    const done = setRunning(vm, true);
    const cmd = await conn.next();
    conn.send({ error: { class: 'GenericError', desc: 'no way' }, id: cmd.id });
    await assert.rejects(done, (err: unknown) => err instanceof QemuCommandError && /no way/.test(err.message));
  });
});
