import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HostInfo } from '../contracts/agent-api.js';
import type { Task, Vm } from '../contracts/controller-api.js';
import type { FailureCode } from '../contracts/errors.js';
import { withDefaults } from '../contracts/vm-spec.js';
import { openDb, SCHEMA_VERSION, type Db } from './db.js';
import { HostsRepo } from './hosts-repo.js';
import { TasksRepo } from './tasks-repo.js';
import { VmsRepo } from './vms-repo.js';

const info = (name: string): HostInfo => ({ name, site: 'main', url: 'http://127.0.0.1:1', cpus: 2, memoryMiB: 4096, accel: 'tcg', qemuVersion: '10.0', agentVersion: '0.1', pid: 1, loadAvg1: 0, memoryFreeMiB: 1000 });
const vm = (name: string, uuid: string): Vm => {
  const spec = withDefaults({ name, memoryMiB: 128 }, uuid);
  return { name, uuid, state: 'stopped', host: 'h1', site: 'main', memoryMiB: 128, vcpus: 1, workload: 'idle', spec, endpoints: [], createdAt: 't0', updatedAt: 't0' };
};
const task = (id: string, state: Task['state'] = 'queued'): Task => ({ id, kind: 'vm.start', target: 'vm/a', state, progress: 0, message: 'queued', createdAt: 't0' });

describe('repositories on SQLite', () => {
  let dir: string;
  let db: Db;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-repos-'));
    db = openDb(join(dir, 'ferry.db'));
  });
  after(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('migrates to the current schema version, with WAL', () => {
    assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    // Opening again is a no-op migration.
    const again = openDb(join(dir, 'ferry.db'));
    assert.equal(again.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    again.close();
  });

  it('hosts: upsert keeps the registration time, setState changes state', () => {
    const hosts = new HostsRepo(db);
    hosts.upsert({ info: info('h1'), state: 'up', lastSeen: 't1', registeredAt: 't1' });
    hosts.upsert({ info: { ...info('h1'), loadAvg1: 2 }, state: 'up', lastSeen: 't2', registeredAt: 't2' });
    hosts.setState('h1', 'down');
    const h = hosts.get('h1')!;
    assert.equal(h.state, 'down');
    assert.equal(h.lastSeen, 't2');
    assert.equal(h.registeredAt, 't1');
    assert.equal(h.info.loadAvg1, 2);
    assert.equal(hosts.list().length, 1);
    assert.equal(hosts.get('nope'), undefined);
  });

  it('vms: insert, unique names, patch, clear an error, remove', () => {
    const vms = new VmsRepo(db);
    vms.insert(vm('a', '00000000-0000-4000-8000-000000000001'));
    assert.throws(() => vms.insert(vm('a', '00000000-0000-4000-8000-000000000002')), /UNIQUE/);
    const r = vms.update('a', { state: 'running', error: 'oops', endpoints: [{ guestPort: 80, host: '127.0.0.1', port: 8080 }] }, 't1')!;
    assert.equal(r.before.state, 'stopped');
    assert.equal(r.after.state, 'running');
    assert.deepEqual(vms.get('a'), r.after);
    vms.update('a', { error: undefined });
    assert.equal('error' in vms.get('a')!, false);
    assert.equal(vms.get('a')!.endpoints[0]?.port, 8080);
    assert.equal(vms.update('zz', { state: 'running' }), undefined);
    assert.equal(vms.remove('a'), true);
    assert.equal(vms.remove('a'), false);
  });

  it('tasks: newest first, and unfinished ones fail after a restart', () => {
    const tasks = new TasksRepo(db);
    tasks.insert(task('t1', 'succeeded'));
    tasks.insert(task('t2', 'running'));
    tasks.insert(task('t3', 'queued'));
    tasks.update({ ...task('t1', 'succeeded'), progress: 100, result: { x: 1 }, error: undefined });
    assert.deepEqual(tasks.list(10).map((t) => t.id), ['t3', 't2', 't1']);
    assert.deepEqual(tasks.list(1).map((t) => t.id), ['t3']);
    assert.deepEqual(tasks.get('t1')!.result, { x: 1 });
    const failed = tasks.failUnfinished('controller restarted', 't9');
    assert.deepEqual(failed.map((t) => t.id).sort(), ['t2', 't3']);
    const t2 = tasks.get('t2')!;
    assert.equal(t2.state, 'failed');
    assert.equal(t2.error?.message, 'controller restarted');
    assert.equal(t2.finishedAt, 't9');
    assert.equal(tasks.get('t1')!.state, 'succeeded');
  });

  it('tasks: a failure code an older controller stored verbatim reads back as one of ours', () => {
    const tasks = new TasksRepo(db);
    tasks.insert({ ...task('t-old', 'failed'), error: { code: 'WIRE_BROKEN' as FailureCode, message: 'peer closed' } });
    tasks.insert({ ...task('t-new', 'failed'), error: { code: 'WIRE_CONNECTION_LOST', message: 'peer closed' } });
    assert.deepEqual(tasks.get('t-old')!.error, { code: 'INTERNAL', message: 'peer closed' });
    assert.deepEqual(tasks.get('t-new')!.error, { code: 'WIRE_CONNECTION_LOST', message: 'peer closed' });
  });
});
