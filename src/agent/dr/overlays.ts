// A checkpoint's disk overlays (docs/qemu-checkpoints.md). Before the pause each disk gets a
// qcow2 overlay backed by its image, added to QEMU unattached; at the instant one `transaction`
// makes every overlay its disk's active layer, which freezes the images; afterwards an active
// `block-commit` merges each overlay back, so `disk<i>` is the active node again as the rest of
// the agent expects, and the overlay node is deleted. After an agent restart, finishLeftOverlay
// completes what a checkpoint the old agent was taking left behind (recover.ts).
import { qemuImg } from '../disks.js';
import { pollUntil, qmp, waitEvent, type CallOptions } from '../qemu/monitor.js';
import { diskFile } from '../vm-dir.js';
import type { VmRuntime } from '../vm-runtime.js';
import type { BlockJobEventData, JobStatusChangeEventData, QmpEvent } from '../../qmp/index.js';
import { BlockJobError } from './errors.js';
import { eventData, scoped } from '../qemu/events.js';

export const overlayNode = (i: number): string => `disk${i}-ckpt`;
const CREATE_TIMEOUT_MS = 600_000;
/** Each stage of a commit: to `ready`, then to completed. */
const COMMIT_TIMEOUT_MS = 300_000;

/** Creates disk i's overlay file and adds it to QEMU as node overlayNode(i), attached to nothing. */
export async function addOverlay(vm: VmRuntime, i: number, file: string, opts: CallOptions): Promise<void> {
  await qemuImg(['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', diskFile(vm.paths.dir, i), file], CREATE_TIMEOUT_MS);
  await qmp(vm, 'blockdev-add', { driver: 'qcow2', 'node-name': overlayNode(i), file: { driver: 'file', filename: file }, backing: null }, opts);
}

/** At the instant: every listed disk writes to its overlay from now on, all or none. */
export async function switchToOverlays(vm: VmRuntime, disks: readonly number[], opts: CallOptions): Promise<void> {
  if (disks.length === 0) return;
  await qmp(vm, 'transaction', { actions: disks.map((i) => ({ type: 'blockdev-snapshot', data: { node: `disk${i}`, overlay: overlayNode(i) } })) }, opts);
}

export async function dropOverlay(vm: VmRuntime, i: number, opts: CallOptions): Promise<void> {
  await qmp(vm, 'blockdev-del', { 'node-name': overlayNode(i) }, opts);
}

/**
 * Active commit of disk i's overlay into its image: the job copies, waits in `ready`
 * (BLOCK_JOB_READY) for block-job-complete, pivots back to `disk<i>` and completes
 * (BLOCK_JOB_COMPLETED), then is dismissed (JOB_STATUS_CHANGE `null`), after which the overlay
 * node can be deleted.
 */
export async function commitOverlay(vm: VmRuntime, i: number, opts: { signal?: AbortSignal } = {}): Promise<void> {
  const job = `ckpt-commit-${i}`;
  const scope = scoped(opts.signal);
  const wait = { signal: scope.signal, timeoutMs: COMMIT_TIMEOUT_MS };
  const ofJob = { ...wait, match: (ev: QmpEvent) => eventData<BlockJobEventData>(ev).device === job };
  // All registered before block-commit: QEMU does not replay events.
  const ready = waitEvent(vm, 'BLOCK_JOB_READY', ofJob);
  const completed = waitEvent(vm, 'BLOCK_JOB_COMPLETED', ofJob);
  const dismissed = waitEvent(vm, 'JOB_STATUS_CHANGE', {
    ...wait,
    match: (ev) => eventData<JobStatusChangeEventData>(ev).id === job && eventData<JobStatusChangeEventData>(ev).status === 'null',
  });
  for (const p of [ready, completed, dismissed]) p.catch(() => undefined);
  const call = opts.signal ? { signal: opts.signal } : {};
  try {
    await qmp(vm, 'block-commit', { 'job-id': job, device: overlayNode(i) }, call);
    // A job that fails while copying completes (with an error) without ever being ready.
    const early = await Promise.race([ready.then(() => undefined), completed]);
    if (early) throw new BlockJobError(vm.name, job, `ended before it was ready${failedWith(early)}`);
    await qmp(vm, 'block-job-complete', { device: job }, call);
    const end = await completed;
    if (eventData<BlockJobEventData>(end).error !== undefined) throw new BlockJobError(vm.name, job, `failed${failedWith(end)}`);
    await dismissed;
  } finally {
    scope.done();
  }
}

const failedWith = (ev: QmpEvent): string => {
  const error = eventData<BlockJobEventData>(ev).error;
  return error ? `: ${error}` : '';
};

/**
 * After an agent restart: whatever a checkpoint left of disk i's overlay is merged back and
 * deleted, so `disk<i>` is the active node again. A commit the old agent had started is finished
 * (QEMU keeps the job; it waits in `ready` for a block-job-complete nobody will send); an
 * attached overlay is committed; an unattached one is only deleted.
 */
export async function finishLeftOverlay(vm: VmRuntime, i: number, opts: { deadline: number; signal?: AbortSignal }): Promise<void> {
  const job = `ckpt-commit-${i}`;
  const call = opts.signal ? { signal: opts.signal } : {};
  const jobNow = async () => (await qmp(vm, 'query-block-jobs', undefined, call)).find((j) => j.device === job);
  if (await jobNow()) {
    // Gone (done or failed) or ready, whichever comes first; a ready job is told to pivot back.
    const ready = await pollUntil(vm, `left commit ${job} ready`, async () => {
      const j = await jobNow();
      return j ? (j.ready ? true : undefined) : false;
    }, opts);
    if (ready) await qmp(vm, 'block-job-complete', { device: job }, call);
    await pollUntil(vm, `left commit ${job} done`, async () => ((await jobNow()) ? undefined : true), opts);
  } else if ((await qmp(vm, 'query-block', undefined, call)).some((b) => b.inserted?.['node-name'] === overlayNode(i))) {
    await commitOverlay(vm, i, call);
  }
  await dropOverlay(vm, i, call).catch(() => undefined);
}
