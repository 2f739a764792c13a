// The restore driver's refusals and teardown, without QEMU: a refused restore touches nothing
// (above all not the files of a VM that already has the name), and one that fails after it
// began removes everything it made.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FerryError } from '../../contracts/index.js';
import { demoSpec } from '../../testing/agent.js';
import { chunk, fileOf, manifestOf, putAll, scratchStore, tempDir } from '../../testing/chunk-store.js';
import type { AgentContext } from '../agent-context.js';
import type { DataPlane } from '../data-plane/plane.js';
import { VmManager } from '../manager.js';
import { vmPaths } from '../vm-dir.js';
import { TransitionRefusedError } from '../errors.js';
import { CheckpointRestore } from './restore.js';
import type { ChunkStore } from './store/index.js';

function agent(t: { after(fn: () => void): void }): AgentContext {
  const dir = tempDir('restore');
  t.after(() => dir.remove());
  const launch = { accel: 'tcg' as const, guestDir: join(dir.path, 'no-guest') };
  // No data plane: a restore never uses it.
  return { hostName: 'h2', dataDir: dir.path, mgr: new VmManager(dir.path, launch), launch, plane: undefined as unknown as DataPlane };
}

/** Checkpoint 1 of r1 whose memory file is not a mapped-ram stream (QEMU never wrote it). */
async function junkCheckpoint(store: ChunkStore): Promise<void> {
  const junk = chunk();
  const staging = store.begin('r1', 1);
  await putAll(staging, [junk]);
  staging.commit({ ...manifestOf('r1', 1, [fileOf('memory', [junk]).file]), spec: demoSpec('r1') });
}

const restore = (ctx: AgentContext, store: ChunkStore, req: { vm: string; asName?: string }): CheckpointRestore =>
  new CheckpointRestore(ctx, store, req, new AbortController().signal);

describe('checkpoint restore driver', () => {
  it('refuses a checkpoint it does not hold, making nothing', async (t) => {
    const ctx = agent(t);
    const { store } = scratchStore(t);
    const r = restore(ctx, store, { vm: 'r1' });
    await assert.rejects(r.run(), (e) => e instanceof FerryError && e.code === 'NOT_FOUND');
    assert.equal(r.state, 'failed');
    assert.equal(existsSync(vmPaths(ctx.dataDir, 'r1').dir), false);
  });

  it('refuses a name a VM here already has, and leaves that VM\'s files alone', async (t) => {
    const ctx = agent(t);
    const { store } = scratchStore(t);
    await junkCheckpoint(store);
    const theirs = vmPaths(ctx.dataDir, 'r1');
    mkdirSync(theirs.dir, { recursive: true });
    writeFileSync(join(theirs.dir, 'disk0.qcow2'), 'not ours');
    await assert.rejects(restore(ctx, store, { vm: 'r1' }).run(), (e) => e instanceof FerryError && e.code === 'CONFLICT');
    assert.equal(readFileSync(join(theirs.dir, 'disk0.qcow2'), 'utf8'), 'not ours');
  });

  it('undoes a restore that fails after it began: the VM dir is gone, no VM is adopted; it runs only once', async (t) => {
    const ctx = agent(t);
    const { store } = scratchStore(t);
    await junkCheckpoint(store);
    const r = restore(ctx, store, { vm: 'r1', asName: 'r1-test' });
    await assert.rejects(r.run(), (e) => e instanceof FerryError && e.code === 'QEMU_FAILED' && /not a mapped-ram migration stream/.test(e.message));
    assert.equal(r.state, 'failed');
    assert.equal(existsSync(vmPaths(ctx.dataDir, 'r1-test').dir), false);
    assert.equal(ctx.mgr.vms.has('r1-test'), false);
    await assert.rejects(r.run(), (e) => e instanceof TransitionRefusedError && e.code === 'INVALID_STATE');
  });
});
