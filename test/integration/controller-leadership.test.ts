// Several controllers on one real PostgreSQL: one leads, a standby serves reads from its copy and
// refuses changes naming the leader (the CLI's and the agents' client follows it), and when the
// leader goes the standby takes over with the cluster's state, answering heartbeats with leases.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterStatus, Task } from '../../src/contracts/controller-api.js';
import { ApiClient, LEADER_HEADER } from '../../src/contracts/http-client.js';
import { runController, type RunningController } from '../../src/controller/index.js';
import { call, beatAs } from '../../src/testing/controller/client.js';
import { FakeAgent } from '../../src/testing/controller/fake-agent.js';
import { TestPki } from '../../src/testing/pki.js';
import { startTestPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { waitFor } from '../../src/testing/wait-for.js';

const ADMIN = 'admin-token-for-tests';
const pki = new TestPki();

async function role(url: string): Promise<string | undefined> {
  const r = await call(url, 'GET', '/api/v1/status', { token: ADMIN });
  return (r.body as ClusterStatus | undefined)?.controller?.role;
}

describe('controllers on PostgreSQL', () => {
  let server: TestPostgres;
  let dir: string;
  const agent = new FakeAgent('h1', pki);
  const controllers: RunningController[] = [];
  before(async () => {
    server = await startTestPostgres();
    dir = mkdtempSync(join(tmpdir(), 'ferry-ctl-pg-'));
    await agent.listen();
  });
  after(async () => {
    for (const c of controllers) await c.close();
    await agent.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('one leads; a standby reads, refuses changes naming the leader, and takes over with the state when the leader goes', async () => {
    const db = await server.database();
    await pki.seedPostgres(db);
    for (const name of ['c1', 'c2']) {
      controllers.push(await runController({ dataDir: join(dir, name), db, leaderLeaseMs: 1_000, adminToken: ADMIN, hostDownAfterMs: 3_000 }));
    }
    const urls = controllers.map((c) => c.url);
    const leaderUrl = await waitFor('a leader', async () => {
      const roles = await Promise.all(urls.map(role));
      return roles.filter((r) => r === 'leader').length === 1 ? urls[roles.indexOf('leader')] : undefined;
    });
    const standbyUrl = urls.find((u) => u !== leaderUrl)!;
    assert.equal(await role(standbyUrl), 'standby');

    // Heartbeats go to the leader (the host joins there); a standby, once its copy knows the host,
    // answers them with where the leader is.
    assert.equal((await beatAs(leaderUrl!, ADMIN, pki, agent)).status, 200);
    const refusedBeat = await waitFor('the standby to know h1 and refuse its heartbeat', async () => {
      const r = await beatAs(standbyUrl, ADMIN, pki, agent);
      return r.status === 401 ? undefined : r;
    });
    assert.equal(refusedBeat.status, 503);
    assert.equal(refusedBeat.body.error.code, 'NOT_LEADER');
    assert.equal(refusedBeat.headers.get(LEADER_HEADER), leaderUrl);

    // A change sent to the standby is refused; the client that knows both follows to the leader.
    const refused = await call(standbyUrl, 'POST', '/api/v1/vms', { token: ADMIN, body: { name: 'db1', memoryMiB: 64 } });
    assert.equal(refused.status, 503);
    assert.equal(refused.body.error.code, 'NOT_LEADER');
    const cli = new ApiClient([standbyUrl, leaderUrl!], ADMIN, { followMs: 20_000 });
    const created = await cli.post<Task>('/api/v1/vms', { name: 'db1', memoryMiB: 64 });
    assert.equal(cli.baseUrl, leaderUrl);
    await waitFor('the create task to succeed', async () => (await cli.get<Task>(`/api/v1/tasks/${created.id}`)).state === 'succeeded');

    // The standby's copy follows: it serves the VM and the task.
    await waitFor('the standby to read db1', async () => (await call(standbyUrl, 'GET', '/api/v1/vms/db1', { token: ADMIN })).status === 200);
    // (The VM's record comes with the task's start; the task's end follows in a later batch.)
    await waitFor('the standby to read the task succeeded', async () => (await call(standbyUrl, 'GET', `/api/v1/tasks/${created.id}`, { token: ADMIN })).body.state === 'succeeded');
    // A read that needs an agent (the console) is the leader's: a standby calls no agent.
    const console = await call(standbyUrl, 'GET', '/api/v1/vms/db1/console', { token: ADMIN });
    assert.equal(console.body.error.code, 'NOT_LEADER');
    assert.equal(console.headers.get(LEADER_HEADER), leaderUrl);
    assert.match(await cli.get<string>('/api/v1/vms/db1/console', { text: true }), /ferry-heartbeat/);

    // The leader goes; the standby leads with everything the leader made durable.
    const old = controllers.find((c) => c.url === leaderUrl)!;
    await old.close();
    controllers.splice(controllers.indexOf(old), 1);
    await waitFor('the standby to lead', async () => (await role(standbyUrl)) === 'leader', { timeoutMs: 20_000 });
    const beat = await beatAs(standbyUrl, ADMIN, pki, agent);
    assert.equal(beat.status, 200);
    const vm = (await call(standbyUrl, 'GET', '/api/v1/vms/db1', { token: ADMIN })).body;
    assert.equal(vm.state, 'running');
    assert.equal(vm.host, 'h1');
    const stop = await cli.post<Task>('/api/v1/vms/db1/stop', {});
    assert.equal(cli.baseUrl, standbyUrl, 'the client followed the new leader');
    await waitFor('the stop to succeed on the new leader', async () => (await cli.get<Task>(`/api/v1/tasks/${stop.id}`)).state === 'succeeded');
  });
});
