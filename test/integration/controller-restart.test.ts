// A controller restart keeps hosts, VMs and task history (they live in SQLite), marks tasks
// that were running as failed, and gives known hosts a grace period before calling them down.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runController } from '../../src/controller/index.js';
import { openDb } from '../../src/controller/db.js';
import { TasksRepo } from '../../src/controller/tasks-repo.js';
import { DrRepo } from '../../src/controller/dr/repo.js';
import { call, beatAs } from '../../src/testing/controller/client.js';
import { waitFor } from '../../src/testing/wait-for.js';
import { FakeAgent } from '../../src/testing/controller/fake-agent.js';
import { TestPki } from '../../src/testing/pki.js';

const ADMIN = 'admin-token-for-tests';
const pki = new TestPki();

describe('controller restart', () => {
  let dir: string;
  const agent = new FakeAgent('h1', pki);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-ctl-restart-'));
    await pki.seed(dir);
    await agent.listen();
  });
  after(async () => {
    await agent.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps its state across a restart and fails interrupted tasks', async () => {
    const opts = { dataDir: dir, adminToken: ADMIN, hostDownAfterMs: 300 };
    let ctl = await runController(opts);
    let createId: string;
    try {
      await beatAs(ctl.url, ADMIN, pki, agent);
      const r = await call(ctl.url, 'POST', '/api/v1/vms', { token: ADMIN, body: { name: 'db1', memoryMiB: 64 } });
      createId = r.body.id as string;
      await waitFor('create', async () => ((await call(ctl.url, 'GET', `/api/v1/tasks/${createId}`, { token: ADMIN })).body.state === 'succeeded' ? true : undefined), { timeoutMs: 10_000, everyMs: 25 });
    } finally {
      await ctl.close();
    }
    assert.equal(existsSync(join(dir, 'controller.json')), false, 'controller.json is removed on close');

    // As if the previous process had died in the middle of a task.
    const db = openDb(join(dir, 'ferry.db'));
    new TasksRepo(db).insert({ id: 'interrupted', kind: 'vm.stop', target: 'vm/db1', state: 'running', progress: 10, message: 'stopping', createdAt: new Date().toISOString() });
    db.close();

    ctl = await runController(opts);
    try {
      const vm = (await call(ctl.url, 'GET', '/api/v1/vms/db1', { token: ADMIN })).body;
      assert.equal(vm.state, 'running');
      assert.equal(vm.host, 'h1');
      const t = (await call(ctl.url, 'GET', '/api/v1/tasks/interrupted', { token: ADMIN })).body;
      assert.equal(t.state, 'failed');
      assert.match(t.error.message, /controller restarted/);
      const tasks = (await call(ctl.url, 'GET', '/api/v1/tasks?limit=10', { token: ADMIN })).body as { id: string }[];
      assert.deepEqual(tasks.map((x) => x.id), ['interrupted', createId]);
      // h1 is remembered, and goes down when it stays silent.
      await waitFor('h1 down', async () => ((await call(ctl.url, 'GET', '/api/v1/hosts', { token: ADMIN })).body[0]?.state === 'down' ? true : undefined), { timeoutMs: 10_000, everyMs: 25 });
      await beatAs(ctl.url, ADMIN, pki, agent);
      assert.equal((await call(ctl.url, 'GET', '/api/v1/hosts', { token: ADMIN })).body[0].state, 'up');
    } finally {
      await ctl.close();
    }
  });

  it('aborts, on both hosts, the checkpoint job a previous controller left in flight, and forgets it', async () => {
    const db = openDb(join(dir, 'ferry.db'));
    const now = new Date().toISOString();
    new DrRepo(db).insert(
      { vm: 'db1', uuid: 'u', fromSite: 'main', toSite: 'dr', targetHost: 'h1', rpoMs: 60_000, keep: 3, state: 'protected', checkpoints: 1, bytesSent: 0, createdAt: now, updatedAt: now },
      { syncingSince: now, checkpointInFlight: { jobId: 'left-job', from: 'h1', to: 'h1' } },
    );
    db.close();
    agent.calls.length = 0;
    const ctl = await runController({ dataDir: dir, adminToken: ADMIN, hostDownAfterMs: 300 });
    try {
      assert.deepEqual(agent.calls.filter((c) => c === 'dr abort'), ['dr abort', 'dr abort'], 'the job aborted at its source and its target');
    } finally {
      await ctl.close();
    }
    const after = openDb(join(dir, 'ferry.db'));
    assert.equal(new DrRepo(after).get('db1')?.meta.checkpointInFlight, undefined);
    after.close();
  });
});
