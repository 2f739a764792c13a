// After an agent restart: finish what a checkpoint the old agent was taking left in a VM's QEMU
// (capture.ts draws the steps). The old agent's job is gone with it; the DR host discards the
// half-sent checkpoint on its own (receive-job.ts: the session broke, or never came), so only
// the protected host's side needs undoing, in this order:
//   1. the memory snapshot (a `migrate` to a file in the work dir) is cancelled if still going;
//   2. a guest paused by the checkpoint (pause-record.ts) is resumed: the pause is downtime;
//   3. disk overlays are merged back, so `disk<i>` is the active node again (overlays.ts);
//   4. the work dirs (`checkpoint-<seq>`) are removed;
//   5. held output of zero-loss mode is adopted, not released (output-hold.ts says why).
// Steps 1-4 run only where the old agent left a pause record or a work dir; a VM untouched by
// checkpoints is only asked for its filters.
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { MigrationStatus } from '../../qmp/index.js';
import { resume } from '../actions.js';
import { log } from '../log.js';
import { pollUntil, qmp } from '../qemu/monitor.js';
import type { VmRuntime } from '../vm-runtime.js';
import type { OutputHold } from './output-hold.js';
import { finishLeftOverlay } from './overlays.js';
import { clearPause, pausedByCheckpoint } from './pause-record.js';

/** All of one VM's recovery: a merge copies at most what the guest wrote since the checkpoint. */
const RECOVER_TIMEOUT_MS = 300_000;
const WORK_DIR = /^checkpoint-\d+$/;
const SNAPSHOT_OVER: ReadonlySet<MigrationStatus> = new Set(['none', 'completed', 'failed', 'cancelled']);

/** Recovers one VM; never throws (a VM that cannot be recovered is logged and left as it is). */
export async function recoverCheckpoint(vm: VmRuntime, hold: OutputHold, signal: AbortSignal): Promise<void> {
  if (!vm.qmp || vm.qmp.closed) return;
  const opts = { deadline: Date.now() + RECOVER_TIMEOUT_MS, signal };
  try {
    const works = readdirSync(vm.paths.dir).filter((n) => WORK_DIR.test(n));
    const paused = pausedByCheckpoint(vm);
    if (paused || works.length > 0) {
      log('vm %s: the agent stopped during a checkpoint (%s); undoing it', vm.name, paused ? 'inside its pause' : works.join(', '));
      await cancelSnapshot(vm, opts);
      if (paused) {
        if (!(await qmp(vm, 'query-status', undefined, { signal })).running) await resume(vm, signal);
        clearPause(vm);
        log('vm %s: resumed after a checkpoint pause the old agent never ended', vm.name);
      }
      for (let i = 0; i < vm.rec.spec.disks.length; i++) await finishLeftOverlay(vm, i, opts);
      for (const w of works) rmSync(join(vm.paths.dir, w), { recursive: true, force: true });
    }
    await hold.adopt(vm, { signal });
  } catch (err) {
    log('vm %s: recovering from a checkpoint the old agent left: %s', vm.name, (err as Error).message);
  }
}

async function cancelSnapshot(vm: VmRuntime, opts: { deadline: number; signal: AbortSignal }): Promise<void> {
  const status = async (): Promise<MigrationStatus> => (await qmp(vm, 'query-migrate', undefined, { signal: opts.signal })).status ?? 'none';
  if (SNAPSHOT_OVER.has(await status())) return;
  await qmp(vm, 'migrate_cancel', undefined, { signal: opts.signal });
  await pollUntil(vm, 'the left memory snapshot cancelled', async () => (SNAPSHOT_OVER.has(await status()) ? true : undefined), opts);
}
