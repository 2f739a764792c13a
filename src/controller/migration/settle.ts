// How a migration ends when it cannot simply go on: its commit got no answer, it failed or was
// aborted, or the controller restarted in the middle of it. The one rule: the VM never runs on
// both hosts, and a lost reply is resolved by asking, never by guessing.
//
// What makes that possible (src/agent/migration/target.ts, source.ts): the target keeps the guest
// paused until our commit reaches it (and discards it if none comes in time); the source resumes
// by itself only while its QEMU has not completed — the target cannot run a VM we never committed
// — and once QEMU completed it resumes only when told `targetGone`. So:
//
//   commit      send it; no answer or a refusal -> ask the target what it holds:
//               committed -> done; still paused awaiting commit -> send it again;
//               gone (aborted, failed, no such migration and no such VM) -> roll back (3 below).
//   roll back   1. abort the source: it answers resumed (QEMU had not completed) -> done, the
//                  target's leftover is cleaned in the background;
//               2. it refuses (completed) or does not answer -> abort the target until it answers:
//                  gone -> 3; it refuses because it committed -> the migration goes forward instead;
//               3. abort the source with targetGone until it answers: the VM resumes there.
//
// An agent that does not answer is asked again every RETRY_MS for as long as this controller
// runs (`pause` rejects when it shuts down; the record stays `running` and the next start
// settles it). The VM is paused meanwhile only if the source's QEMU had completed.
import type { MigrationProgress } from '../../contracts/migration.js';
import { FerryError } from '../../contracts/errors.js';

export const RETRY_MS = 2000;

export interface SettleIo {
  targetProgress(signal?: AbortSignal): Promise<MigrationProgress>;
  /** Whether the target host reports the VM (with this uuid) at all. */
  targetHoldsVm(): Promise<boolean>;
  commitTarget(signal?: AbortSignal): Promise<MigrationProgress>;
  abortTarget(): Promise<MigrationProgress>;
  abortSource(targetGone: boolean): Promise<MigrationProgress>;
  /** Waits before asking again; rejects once the controller shuts down. */
  pause(ms: number): Promise<void>;
  /** What the migration waits for while an agent does not answer (the task shows it). */
  waiting(what: string): void;
  log(fmt: string, ...args: unknown[]): void;
}

export type Settled = { outcome: 'committed' } | { outcome: 'rolled-back'; why: string };

/** No answer (host down, timed out, connection refused): worth asking again. Any answer is final. */
export function unanswered(err: unknown): boolean {
  return !(err instanceof FerryError) || err.code === 'HOST_DOWN' || err.code === 'TIMEOUT' || err.code === 'INTERNAL';
}

type TargetHolds = 'committed' | 'awaiting-commit' | 'in-flight' | 'gone';
/** `ranThere`: the guest switched to the target (post-copy), which the migration cannot undo. */
type TargetAnswer = { holds: TargetHolds; why: string; ranThere?: boolean };

const notFound = (err: unknown): boolean => err instanceof FerryError && err.code === 'NOT_FOUND';

/** What the target holds, asked until it answers. */
async function askTarget(io: SettleIo, host: string): Promise<TargetAnswer> {
  for (;;) {
    try {
      const p = await io.targetProgress();
      const ranThere = p.switchedToPostcopy;
      if (p.state === 'committed') return { holds: 'committed', why: 'the target committed' };
      if (p.state === 'completed') return { holds: 'awaiting-commit', why: `the target holds the whole VM${ranThere ? ', running since the post-copy switch' : ', paused'}`, ranThere };
      if (p.state === 'failed' || p.state === 'aborted') return { holds: 'gone', why: `the target discarded its copy (${p.error?.message ?? p.state})` };
      return { holds: 'in-flight', why: `the target is still receiving (${p.state}${ranThere ? ', post-copy' : ''})`, ranThere };
    } catch (err) {
      if (notFound(err)) {
        // No such migration there (never reserved, or forgotten): the VM itself decides.
        const holds = await ask(io, host, () => io.targetHoldsVm());
        return holds ? { holds: 'committed', why: 'the target runs the VM' } : { holds: 'gone', why: 'the target has neither the migration nor the VM' };
      }
      if (!unanswered(err)) throw err;
      io.waiting(`${host} does not answer whether it holds the VM (${(err as Error).message}); asking again`);
      await io.pause(RETRY_MS);
    }
  }
}

/** `fn` until it answers (an answer may be an error other than "no answer", which is thrown). */
async function ask<T>(io: SettleIo, host: string, fn: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (!unanswered(err)) throw err;
      io.waiting(`${host} does not answer (${(err as Error).message}); asking again`);
      await io.pause(RETRY_MS);
    }
  }
}

/** Step 6 at the target, resolved by asking: `committed`, or `rolled-back` once the target's copy is gone and the source resumed. */
export async function commitTarget(io: SettleIo, hosts: { source: string; target: string }, signal?: AbortSignal): Promise<Settled> {
  for (;;) {
    try {
      const p = await io.commitTarget(signal);
      if (p.state === 'committed') return { outcome: 'committed' };
    } catch (err) {
      io.log('commit at %s got no clean answer: %s', hosts.target, (err as Error).message);
    }
    const { holds, why, ranThere } = await askTarget(io, hosts.target);
    if (holds === 'committed') return { outcome: 'committed' };
    if (holds === 'gone') return resumeSource(io, hosts.source, why);
    if (holds === 'in-flight') {
      if (!ranThere) throw new FerryError('INVALID_STATE', `cannot commit: ${why}`);
      io.waiting(`${why}: waiting for the last pages`);
    }
    await io.pause(RETRY_MS);
  }
}

/** Ends a migration that is not going on: the VM runs at exactly one host afterwards (or goes forward if the target committed). */
export async function rollBack(io: SettleIo, hosts: { source: string; target: string }, cause: string): Promise<Settled> {
  try {
    const p = await io.abortSource(false);
    if (p.state === 'committed') return { outcome: 'committed' };
    return { outcome: 'rolled-back', why: cause };
  } catch (err) {
    // Never started there: the VM was not touched.
    if (notFound(err)) return { outcome: 'rolled-back', why: cause };
    io.log('abort at the source %s: %s', hosts.source, (err as Error).message);
  }
  // The source's QEMU completed (or it did not answer): the target decides.
  for (;;) {
    try {
      const p = await io.abortTarget();
      if (p.state === 'aborted' || p.state === 'failed') return resumeSource(io, hosts.source, cause);
    } catch (err) {
      if (unanswered(err)) {
        io.waiting(`${hosts.target} does not answer the abort (${(err as Error).message}); asking again`);
        await io.pause(RETRY_MS);
        continue;
      }
    }
    const { holds, why, ranThere } = await askTarget(io, hosts.target);
    if (holds === 'committed') return { outcome: 'committed' };
    if (holds === 'gone') return resumeSource(io, hosts.source, cause);
    // The guest switched over (post-copy): only forward is left, once the last pages are in.
    if (ranThere && holds === 'awaiting-commit') return commitTarget(io, hosts);
    io.log('target %s: %s; %s', hosts.target, why, ranThere ? 'waiting for the post-copy migration to complete' : 'asking it to abort again');
    await io.pause(RETRY_MS);
  }
}

/** The target's copy is gone for good: the source may resume the VM. */
async function resumeSource(io: SettleIo, source: string, why: string): Promise<Settled> {
  let p: MigrationProgress;
  try {
    p = await ask(io, source, () => io.abortSource(true));
  } catch (err) {
    if (notFound(err)) return { outcome: 'rolled-back', why };
    throw err;
  }
  if (p.state === 'committed') throw new FerryError('INTERNAL', `the source ${source} discarded its copy although the target holds none: the VM is lost (${why})`);
  return { outcome: 'rolled-back', why };
}
