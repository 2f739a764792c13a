// Which host files a VM spec may name: under an allowed directory after realpath, so neither
// `..` nor a symlink leads out; the refusal names the field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AllowedPaths, specPaths } from './allowed-paths.js';

function sandbox(): { root: string; allowed: string; outside: string; done: () => void } {
  const root = mkdtempSync(join(tmpdir(), 'ferry-paths-'));
  const allowed = join(root, 'images');
  const outside = join(root, 'private');
  mkdirSync(allowed);
  mkdirSync(outside);
  writeFileSync(join(allowed, 'base.qcow2'), 'x');
  writeFileSync(join(outside, 'secret'), 'x');
  return { root, allowed, outside, done: () => rmSync(root, { recursive: true, force: true }) };
}

test('files under an allowed directory pass, others are refused by field', () => {
  const s = sandbox();
  try {
    const paths = new AllowedPaths([s.allowed]);
    paths.check({ boot: { kind: 'kernel', kernel: join(s.allowed, 'base.qcow2') }, disks: [{ image: join(s.allowed, 'base.qcow2') }] }, 'body');
    paths.check({ boot: { kind: 'demo' }, disks: [{ sizeMiB: 8 }] }, 'body');
    assert.throws(() => paths.check({ boot: { kind: 'demo' }, disks: [{ sizeMiB: 8 }, { image: '/etc/shadow' }] }, 'body'), { code: 'INVALID_REQUEST', field: 'body.disks.1.image' });
    assert.throws(() => paths.check({ boot: { kind: 'kernel', kernel: join(s.allowed, 'base.qcow2'), initrd: join(s.outside, 'secret') }, disks: [] }, 'body.spec'), { field: 'body.spec.boot.initrd' });
    assert.equal(paths.allows(s.allowed), false, 'the directory itself is not a file in it');
    assert.equal(paths.allows('images/base.qcow2'), false, 'relative paths are refused');
  } finally {
    s.done();
  }
});

test('neither .. nor a symlink leads out; a symlinked allowed directory still works', () => {
  const s = sandbox();
  try {
    symlinkSync(join(s.outside, 'secret'), join(s.allowed, 'link-to-secret'));
    symlinkSync(s.outside, join(s.allowed, 'link-to-dir'));
    const linkedRoot = join(s.root, 'images-link');
    symlinkSync(s.allowed, linkedRoot);
    const paths = new AllowedPaths([linkedRoot]);
    assert.equal(paths.allows(join(s.allowed, 'base.qcow2')), true, 'the real path of an allowed file');
    assert.equal(paths.allows(join(linkedRoot, 'base.qcow2')), true);
    assert.equal(paths.allows(join(s.allowed, 'link-to-secret')), false);
    assert.equal(paths.allows(join(s.allowed, 'link-to-dir', 'secret')), false);
    assert.equal(paths.allows(`${s.allowed}/../private/secret`), false);
    assert.equal(paths.allows(join(s.allowed, 'not-yet', 'there.qcow2')), true, 'a missing file is judged by where it would be');
    assert.equal(paths.allows(join(s.allowed, 'link-to-dir', 'not-yet')), false);
  } finally {
    s.done();
  }
});

test('specPaths lists every host path a spec names', () => {
  assert.deepEqual(specPaths({ boot: { kind: 'kernel', kernel: '/k', initrd: '/i' }, disks: [{ sizeMiB: 1 }, { image: '/d' }] }), [
    ['boot.kernel', '/k'],
    ['boot.initrd', '/i'],
    ['disks.1.image', '/d'],
  ]);
});
