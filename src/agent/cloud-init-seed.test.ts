// The NoCloud seed as cloud-init reads it: an ISO 9660 volume labelled `cidata` with the user's
// user-data verbatim and meta-data naming the VM's uuid as instance-id (read back with isoinfo,
// from the same genisoimage package); built once, kept when it exists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureSeed, SEED_FILE } from './cloud-init-seed.js';
import { demoSpec } from '../testing/agent.js';

test('the seed is a cidata volume with user-data and meta-data', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-seed-'));
  try {
    const spec = { ...demoSpec('cloud1'), cloudInit: { userData: '#cloud-config\nruncmd: [echo hi]\n' } };
    await ensureSeed(dir, spec);
    const iso = join(dir, SEED_FILE);
    const info = execFileSync('isoinfo', ['-d', '-i', iso], { encoding: 'utf8' });
    assert.match(info, /Volume id: cidata/);
    assert.equal(execFileSync('isoinfo', ['-J', '-i', iso, '-x', '/user-data'], { encoding: 'utf8' }), spec.cloudInit.userData);
    assert.equal(execFileSync('isoinfo', ['-J', '-i', iso, '-x', '/meta-data'], { encoding: 'utf8' }), `instance-id: ${spec.uuid}\nlocal-hostname: cloud1\n`);
    const before = statSync(iso).mtimeMs;
    await ensureSeed(dir, spec);
    assert.equal(statSync(iso).mtimeMs, before, 'kept, not rebuilt');
    const plain = mkdtempSync(join(tmpdir(), 'ferry-seed-'));
    await ensureSeed(plain, demoSpec('plain'));
    assert.throws(() => statSync(join(plain, SEED_FILE)), /ENOENT/);
    rmSync(plain, { recursive: true, force: true });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
