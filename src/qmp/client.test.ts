import { strict as assert } from 'node:assert';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { FakeQmpServer, type FakeConnection } from '../testing/qmp-fake-server.js';
import {
  QmpAbortedError,
  QmpClient,
  QmpCommandError,
  QmpConnectError,
  QmpDisconnectedError,
  QmpProtocolError,
  QmpTimeoutError,
  type QmpEvent,
} from './index.js';

describe('QmpClient against a fake QMP server', () => {
  let server: FakeQmpServer;
  let client: QmpClient;
  let conn: FakeConnection;

  beforeEach(async () => {
    server = await FakeQmpServer.start();
    [client, conn] = await Promise.all([QmpClient.connect(server.path), server.connection()]);
  });
  afterEach(async () => {
    client.destroy();
    await server.close();
  });

  it('exposes the greeting', () => {
    assert.equal(client.greeting.QMP.version.qemu.major, 10);
    assert.deepEqual(client.greeting.QMP.capabilities, ['oob']);
    assert.equal(client.closed, false);
  });

  it('sends commands with arguments and resolves with the return value', async () => {
    const result = client.execute('query-status');
    const cmd = await conn.next();
    assert.equal(cmd.execute, 'query-status');
    assert.equal('arguments' in cmd, false);
    conn.send({ return: { status: 'paused', running: false }, id: cmd.id });
    assert.deepEqual(await result, { status: 'paused', running: false });

    const bal = client.execute('balloon', { value: 1 << 20 });
    const cmd2 = await conn.next();
    assert.deepEqual(cmd2.arguments, { value: 1 << 20 });
    assert.notEqual(cmd2.id, cmd.id);
    conn.send({ return: {}, id: cmd2.id });
    assert.deepEqual(await bal, {});
  });

  it('matches out-of-order replies by id, with events interleaved', async () => {
    const events: string[] = [];
    client.on('event', (ev) => events.push(ev.event));
    const a = client.executeRaw('a');
    const b = client.executeRaw('b');
    const c = client.executeRaw('c');
    const [ca, cb, cc] = [await conn.next(), await conn.next(), await conn.next()];
    conn.event('E1');
    conn.send({ return: 'C', id: cc.id });
    conn.event('E2');
    conn.send(`{"return": "A", "id": ${JSON.stringify(ca.id)}}\r\n{"event": "E3", "timestamp": {"seconds": 0, "microseconds": 0}}\r\n{"return": "B", "id": ${JSON.stringify(cb.id)}}\r\n`);
    assert.deepEqual(await Promise.all([a, b, c]), ['A', 'B', 'C']);
    assert.deepEqual(events, ['E1', 'E2', 'E3']);
  });

  it('ignores replies with unknown ids and messages of unknown shape', async () => {
    const p = client.executeRaw('x');
    const cmd = await conn.next();
    conn.send({ return: 'stray', id: 9999 });
    conn.send({ return: 'no id' });
    conn.send({ error: { class: 'GenericError', desc: 'JSON parse error' } });
    conn.send({ something: 'else' });
    conn.send({ return: 'mine', id: cmd.id });
    assert.equal(await p, 'mine');
  });

  it('rejects with QmpCommandError carrying QEMU class and desc', async () => {
    const p = client.execute('balloon', { value: 1 });
    const cmd = await conn.next();
    conn.send({ error: { class: 'DeviceNotActive', desc: 'No balloon device has been activated' }, id: cmd.id });
    const err = await p.then(
      () => assert.fail('should reject'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof QmpCommandError);
    assert.equal(err.code, 'QMP_COMMAND_FAILED');
    assert.equal(err.qemuClass, 'DeviceNotActive');
    assert.equal(err.desc, 'No balloon device has been activated');
    assert.equal(err.command, 'balloon');
    assert.ok(err.message.includes('No balloon device has been activated'));
  });

  it('times out one call only; its late reply is ignored', async () => {
    const slow = client.executeRaw('slow', undefined, { timeoutMs: 30 });
    const fast = client.executeRaw('fast');
    const [cs, cf] = [await conn.next(), await conn.next()];
    await assert.rejects(slow, (e: unknown) => e instanceof QmpTimeoutError && e.code === 'QMP_TIMEOUT' && e.timeoutMs === 30);
    conn.send({ return: 'late', id: cs.id });
    conn.send({ return: 'ok', id: cf.id });
    assert.equal(await fast, 'ok');
    assert.equal(client.closed, false);
  });

  it('aborts one call via AbortSignal, and refuses an already-aborted signal without sending', async () => {
    const ac = new AbortController();
    const p = client.executeRaw('long', undefined, { signal: ac.signal });
    const cmd = await conn.next();
    ac.abort(new Error('user cancelled'));
    await assert.rejects(p, (e: unknown) => e instanceof QmpAbortedError && e.code === 'QMP_ABORTED' && (e.cause as Error).message === 'user cancelled');
    conn.send({ return: 'late', id: cmd.id });

    await assert.rejects(client.executeRaw('never', undefined, { signal: ac.signal }), QmpAbortedError);
    const after = client.executeRaw('after');
    assert.equal((await conn.next()).execute, 'after', 'the aborted-before-send command was not written');
    client.destroy();
    await assert.rejects(after, QmpDisconnectedError);
  });

  it('rejects an invalid timeout', async () => {
    await assert.rejects(client.executeRaw('x', undefined, { timeoutMs: -1 }), RangeError);
  });

  it('rejects every pending call when the server disconnects, and emits close once', async () => {
    const closes: Array<Error | undefined> = [];
    client.on('close', (err) => closes.push(err));
    const calls = [client.executeRaw('a'), client.executeRaw('b'), client.waitForEvent('NEVER')];
    await conn.next();
    conn.socket.destroy();
    for (const call of calls) {
      await assert.rejects(call, (e: unknown) => e instanceof QmpDisconnectedError && e.code === 'QMP_DISCONNECTED');
    }
    assert.equal(client.closed, true);
    assert.equal(closes.length, 1);
    assert.ok(closes[0] instanceof QmpDisconnectedError);
    await assert.rejects(client.executeRaw('after'), QmpDisconnectedError);
    await assert.rejects(client.waitForEvent('X'), QmpDisconnectedError);
  });

  it('destroy(err) rejects pending with QmpDisconnectedError whose cause is err; idempotent', async () => {
    const closes: Array<Error | undefined> = [];
    client.on('close', (err) => closes.push(err));
    const p = client.executeRaw('a');
    const cause = new Error('host going down');
    client.destroy(cause);
    client.destroy(new Error('second'));
    await assert.rejects(p, (e: unknown) => e instanceof QmpDisconnectedError && e.cause === cause);
    assert.deepEqual(closes, [cause]);
    await client.close();
  });

  it('tears down on a protocol error and rejects pending with it as cause', async () => {
    const p = client.executeRaw('a');
    await conn.next();
    conn.send('this is not json\r\n');
    await assert.rejects(p, (e: unknown) => e instanceof QmpDisconnectedError && e.cause instanceof QmpProtocolError);
    assert.equal(client.closed, true);
  });

  it('close() waits for pending calls, refuses new ones, is idempotent and emits close without error', async () => {
    const closes: Array<Error | undefined> = [];
    client.on('close', (err) => closes.push(err));
    const p = client.executeRaw('a');
    const cmd = await conn.next();
    const c1 = client.close();
    const c2 = client.close();
    assert.equal(c1, c2);
    assert.equal(client.closed, true);
    await assert.rejects(client.executeRaw('b'), QmpDisconnectedError);
    conn.send({ return: 'done', id: cmd.id });
    assert.equal(await p, 'done');
    await c1;
    await conn.closed;
    assert.deepEqual(closes, [undefined]);
    await client.close();
    client.destroy();
    assert.equal(closes.length, 1);
  });

  it('waitForEvent resolves with the matching event and honours match, timeout and abort', async () => {
    const stop = client.waitForEvent('STOP');
    const job = client.waitForEvent('JOB_STATUS_CHANGE', { match: (ev) => ev.data?.status === 'concluded' });
    const timeout = assert.rejects(client.waitForEvent('NEVER', { timeoutMs: 20 }), QmpTimeoutError);
    const ac = new AbortController();
    const aborted = assert.rejects(client.waitForEvent('NEVER', { signal: ac.signal }), QmpAbortedError);
    ac.abort();
    conn.event('JOB_STATUS_CHANGE', { id: 'j', status: 'running' });
    conn.event('STOP');
    conn.event('JOB_STATUS_CHANGE', { id: 'j', status: 'concluded' });
    const ev: QmpEvent = await stop;
    assert.equal(ev.event, 'STOP');
    assert.deepEqual(ev.timestamp, { seconds: 1, microseconds: 0 });
    assert.deepEqual((await job).data, { id: 'j', status: 'concluded' });
    await timeout;
    await aborted;
  });

  it('a throwing match rejects only that waiter', async () => {
    const bad = assert.rejects(
      client.waitForEvent('E', {
        match: () => {
          throw new Error('boom');
        },
      }),
      /boom/,
    );
    const good = client.waitForEvent('E');
    conn.event('E');
    await bad;
    assert.equal((await good).event, 'E');
  });
});

describe('QmpClient.connect', () => {
  it('fails with QmpConnectError (cause ENOENT) when nothing listens', async () => {
    const err = await QmpClient.connect('/nonexistent/ferry-qmp.sock').catch((e: unknown) => e);
    assert.ok(err instanceof QmpConnectError);
    assert.equal(err.code, 'QMP_CONNECT_FAILED');
    assert.equal((err.cause as NodeJS.ErrnoException).code, 'ENOENT');
  });

  it('times out when no greeting arrives', async () => {
    const server = await FakeQmpServer.start({ greeting: false });
    try {
      await assert.rejects(QmpClient.connect(server.path, { timeoutMs: 50 }), (e: unknown) => e instanceof QmpTimeoutError && e.timeoutMs === 50);
    } finally {
      await server.close();
    }
  });

  it('times out when qmp_capabilities gets no reply', async () => {
    const server = await FakeQmpServer.start({ autoCapabilities: false });
    try {
      await assert.rejects(QmpClient.connect(server.path, { timeoutMs: 80 }), QmpTimeoutError);
    } finally {
      await server.close();
    }
  });

  it('can be aborted', async () => {
    const server = await FakeQmpServer.start({ greeting: false });
    try {
      const ac = new AbortController();
      const p = QmpClient.connect(server.path, { signal: ac.signal });
      await sleep(10);
      ac.abort();
      await assert.rejects(p, QmpAbortedError);
      await assert.rejects(QmpClient.connect(server.path, { signal: ac.signal }), QmpAbortedError);
    } finally {
      await server.close();
    }
  });

  it('rejects a peer that does not speak QMP', async () => {
    for (const greeting of ['{"hello": "world"}\r\n', 'SSH-2.0-OpenSSH\r\n']) {
      const server = await FakeQmpServer.start({ greeting });
      try {
        const err = await QmpClient.connect(server.path).catch((e: unknown) => e);
        assert.ok(err instanceof QmpConnectError, String(err));
        assert.ok(err.cause instanceof QmpProtocolError);
      } finally {
        await server.close();
      }
    }
  });

  it('reports a failing qmp_capabilities as QmpConnectError with the command error as cause', async () => {
    const server = await FakeQmpServer.start({ autoCapabilities: false });
    try {
      const p = QmpClient.connect(server.path).catch((e: unknown) => e);
      const conn = await server.connection();
      const cmd = await conn.next();
      conn.send({ error: { class: 'CommandNotFound', desc: 'Expecting capabilities negotiation' }, id: cmd.id });
      const err = await p;
      assert.ok(err instanceof QmpConnectError);
      assert.ok(err.cause instanceof QmpCommandError);
    } finally {
      await server.close();
    }
  });

  it('fails when the server hangs up before the greeting', async () => {
    const server = await FakeQmpServer.start({ greeting: false });
    try {
      const p = QmpClient.connect(server.path).catch((e: unknown) => e);
      (await server.connection()).socket.end();
      const err = await p;
      assert.ok(err instanceof QmpConnectError, String(err));
      assert.ok(err.cause instanceof QmpDisconnectedError);
    } finally {
      await server.close();
    }
  });
});
