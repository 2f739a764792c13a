// The image library's REST API against fake agents (every reply checked against the agent route
// table): an import is a task whose result is the image; bad input is a 400 naming the field
// (the image name, a spec naming no image, an image of the wrong kind for its place); a VM
// created on a host that lacks its images makes that host fetch them from one that holds them;
// an image a VM uses cannot be removed.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runController, type RunningController } from '../../src/controller/index.js';
import { controllerClient } from '../../src/testing/controller/client.js';
import { FakeAgent } from '../../src/testing/controller/fake-agent.js';

const ADMIN = 'admin-token-for-tests';
const SECRET = 'cluster-secret-for-tests';

describe('image library API', () => {
  let dir: string;
  let ctl: RunningController;
  const h1 = new FakeAgent('h1', SECRET);
  const h2 = new FakeAgent('h2', SECRET);
  const c = controllerClient(() => ctl.url, ADMIN, SECRET);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-ctl-images-'));
    await h1.listen();
    await h2.listen();
    ctl = await runController({ dataDir: dir, adminToken: ADMIN, clusterSecret: SECRET, hostDownAfterMs: 60_000 });
    await c.beat(h1);
    await c.beat(h2);
  });
  after(async () => {
    await ctl.close();
    await h1.close();
    await h2.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('imports as a task whose result is the image; refuses a bad name, naming the field', async () => {
    let r = await c.api('POST', '/images', { name: 'Bad Name', path: '/x' });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.field, 'body.name');
    r = await c.api('POST', '/images', { name: 'deb', path: 'relative' });
    assert.equal(r.body.error.field, 'body.path');
    r = await c.api('POST', '/images', { name: 'deb', path: '/srv/deb.qcow2', host: 'h1' });
    assert.equal(r.status, 202);
    const t = await c.finished(r.body.id);
    assert.equal(t.state, 'succeeded', JSON.stringify(t.error));
    assert.equal(t.result.name, 'deb');
    assert.deepEqual(t.result.hosts, ['h1']);
    assert.ok(h1.calls.includes('image import'));
    r = await c.api('POST', '/images', { name: 'deb', path: '/srv/deb.qcow2', host: 'h1' });
    assert.equal(r.status, 409);
    const list = (await c.api('GET', '/images')).body;
    assert.deepEqual(list.map((i: { name: string; format: string; usedBy: string[] }) => [i.name, i.format, i.usedBy]), [['deb', 'qcow2', []]]);
  });

  it('a VM spec naming no image, or an image of the wrong kind, is refused naming the field', async () => {
    let r = await c.api('POST', '/vms', { name: 'v0', memoryMiB: 128, disks: [{ fromImage: { name: 'nope' } }] });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.field, 'body.disks.0.fromImage.name');
    r = await c.api('POST', '/vms', { name: 'v0', memoryMiB: 128, boot: { kind: 'image', kernel: { name: 'deb' } } });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.field, 'body.boot.kernel.name');
    assert.match(r.body.error.message, /qcow2 image/);
  });

  it('a VM on a host that lacks its image: that host fetches it from one that holds it', async () => {
    const r = await c.api('POST', '/vms', { name: 'v1', memoryMiB: 128, boot: { kind: 'disk' }, disks: [{ fromImage: { name: 'deb' } }], host: 'h2' });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const t = await c.finished(r.body.id);
    assert.equal(t.state, 'succeeded', JSON.stringify(t.error));
    assert.ok(h2.calls.indexOf('image receive') >= 0 && h2.calls.indexOf('image receive') < h2.calls.indexOf('define v1'), h2.calls.join(', '));
    assert.ok(h1.calls.includes('image send'));
    const vm = (await c.api('GET', '/vms/v1')).body;
    const img = (await c.api('GET', '/images/deb')).body;
    assert.equal(vm.spec.disks[0].fromImage.id, img.id, 'the spec names the image by its id');
    assert.deepEqual(img.hosts, ['h1', 'h2']);
    assert.deepEqual(img.usedBy, ['v1']);
  });

  it('an image in use cannot be removed; unused, it goes from every host', async () => {
    let r = await c.api('DELETE', '/images/deb');
    assert.equal(r.status, 409);
    assert.match(r.body.error.message, /used by v1/);
    await c.beat(h2);
    r = await c.api('POST', '/vms/v1/stop', { force: true });
    await c.finished(r.body.id);
    r = await c.api('DELETE', '/vms/v1');
    await c.finished(r.body.id);
    r = await c.api('DELETE', '/images/deb');
    assert.equal(r.status, 204);
    assert.ok(h1.calls.includes('image remove') && h2.calls.includes('image remove'));
    assert.equal((await c.api('GET', '/images/deb')).status, 404);
  });
});
