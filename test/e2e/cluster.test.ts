// The walking skeleton end to end, through the CLI: a 2-host cluster, a VM's whole life
// (heartbeat through pause/resume, suspend/restore, resize, clone), placement, bad input,
// and `ferry down` leaving no process behind. Guests run under TCG (`--accel tcg`).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Host, Task, Vm } from '../../src/contracts/controller-api.js';
import { isAlive } from '../../src/cli/process.js';
import { TestCluster } from './harness.js';
import { waitFor } from '../../src/testing/wait-for.js';

describe('ferry cluster, end to end', { timeout: 15 * 60_000 }, () => {
  const c = new TestCluster();
  before(async () => {
    await c.ok(['up', '--hosts', '2', '--port', '0', '--accel', 'tcg']);
  });
  after(() => c.cleanup());

  it('up starts 2 hosts that report up; status answers', async () => {
    const hosts = await c.json<Host[]>(['host', 'list']);
    assert.deepEqual(hosts.map((h) => [h.name, h.state]).sort(), [['host1', 'up'], ['host2', 'up']]);
    assert.ok(hosts.every((h) => h.site === 'main'));
    const status = await c.ok(['status']);
    assert.match(status, /hosts:\s+2 up, 0 down/);
    const again = await c.ok(['up']);
    assert.match(again, /already up/);
  });

  it('honours --host and --disk', async () => {
    const vm = await c.json<Vm>(['vm', 'create', 'placed', '--memory', '128', '--host', 'host2', '--disk', '64M', '--workload', 'idle']);
    assert.equal(vm.host, 'host2');
    assert.equal(vm.state, 'running');
    assert.deepEqual(vm.spec.disks.map((d) => d.sizeMiB), [64]);
    await c.ok(['vm', 'stop', 'placed', '--force']);
    await c.ok(['vm', 'rm', 'placed']);
    const list = await c.json<Vm[]>(['vm', 'list']);
    assert.ok(!list.some((v) => v.name === 'placed'));
  });

  it('refuses bad input with clear, coded errors', async () => {
    const usage = await c.run(['vm', 'create', 'x', '--memory', 'lots']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /^ferry: .*--memory/);

    const { url, token } = c.clusterFile();
    const res = await fetch(`${url}/api/v1/vms`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Bad_Name', memoryMiB: 128 }),
    });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { error: { code: string; field?: string } };
    assert.equal(body.error.code, 'INVALID_REQUEST');
    assert.match(body.error.field ?? '', /name/);

    await c.ok(['vm', 'create', 'cold', '--memory', '128', '--no-start']);
    const pause = await c.run(['vm', 'pause', 'cold']);
    assert.equal(pause.code, 1);
    assert.match(pause.stderr, /^ferry: .*cold.*\(INVALID_STATE\)\n$/);
    await c.ok(['vm', 'rm', 'cold']);

    const missing = await c.run(['vm', 'show', 'nosuch']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^ferry: .*nosuch.*\(NOT_FOUND\)\n$/);
  });

  it('runs a VM through pause, resume, suspend, restore, resize, clone, stop and rm', async () => {
    const vm = await c.json<Vm>(['vm', 'create', 'web', '--memory', '128', '--workload', 'dirty:8:32']);
    assert.equal(vm.state, 'running');
    assert.ok(['host1', 'host2'].includes(vm.host));

    const first = await c.waitBeat('web', 0);
    const later = await c.waitBeat('web', first.seq);
    assert.equal(later.bad, 0);

    await c.ok(['vm', 'pause', 'web']);
    assert.equal((await c.json<Vm>(['vm', 'show', 'web'])).state, 'paused');
    await sleep(1000);
    const paused = await c.heartbeat('web');
    await sleep(3000);
    assert.equal((await c.heartbeat('web'))?.seq, paused?.seq, 'seq must not move while paused');

    await c.ok(['vm', 'resume', 'web']);
    const resumed = await c.waitBeat('web', paused!.seq);
    assert.equal(resumed.bad, 0);

    const suspendTask = await c.json<Task>(['vm', 'suspend', 'web']);
    assert.equal(suspendTask.state, 'succeeded');
    const beforeSuspend = (await c.heartbeat('web'))!;
    assert.equal((await c.json<Vm>(['vm', 'show', 'web'])).state, 'suspended');
    await c.ok(['vm', 'restore', 'web']);
    const restored = await c.waitBeat('web', beforeSuspend.seq);
    assert.equal(restored.bad, 0);
    // Restored, not rebooted: the guest booted once (one seq=0 in the whole console history).
    const history = (await c.run(['vm', 'console', 'web', '--tail', '1048576'])).stdout;
    assert.equal(history.match(/ferry-heartbeat seq=0 /g)?.length, 1, 'the guest must not have rebooted');

    await c.ok(['vm', 'resize', 'web', '--memory', '96']);
    await waitFor('balloon at 96 MiB', async () => {
      const b = (await c.json<Vm>(['vm', 'show', 'web'])).metrics?.balloonBytes;
      return b !== undefined && Math.abs(b - 96 * 1024 * 1024) <= 4 * 1024 * 1024;
    }, { timeoutMs: 60_000, everyMs: 1000 });

    await c.ok(['vm', 'stop', 'web']);
    assert.equal((await c.json<Vm>(['vm', 'show', 'web'])).state, 'stopped');
    const copy = await c.json<Vm>(['vm', 'clone', 'web', 'web-copy']);
    assert.equal(copy.state, 'running');
    assert.notEqual(copy.uuid, vm.uuid);
    const cb = await c.waitBeat('web-copy', 0);
    await c.waitBeat('web-copy', cb.seq);
    assert.equal((await c.json<Vm>(['vm', 'show', 'web'])).state, 'stopped', 'the original stays stopped');

    await c.ok(['vm', 'stop', 'web-copy', '--force']);
    await c.ok(['vm', 'rm', 'web-copy']);
    await c.ok(['vm', 'rm', 'web']);
    assert.deepEqual(await c.json<Vm[]>(['vm', 'list']), []);
  });

  it('down stops every process it started and is idempotent', async () => {
    await c.ok(['vm', 'create', 'leftover', '--memory', '128']);
    c.remember();
    const pids = c.allPids();
    assert.ok(c.qemuPids().length >= 1, 'a QEMU runs before down');
    const out = await c.ok(['down']);
    assert.match(out, /Data kept in/);
    assert.deepEqual(pids.filter(isAlive), []);
    assert.deepEqual(c.qemuPids(), []);
    assert.deepEqual(c.guardPids(), [], 'no fence guard is left either');
    assert.ok(!existsSync(join(c.home, 'cluster.json')));
    assert.match(await c.ok(['down']), /No cluster is up/);
  });
});
