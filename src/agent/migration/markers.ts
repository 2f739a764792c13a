// What a migration leaves in the VM's directory, so that a restarted agent knows what it was in
// the middle of (../reattach.ts, recovered.ts):
//   incoming.json  at the target from reservation until the VM is ours. Without `committing` the
//                  guest has never run here (QEMU started with -S): a restarted agent kills it.
//                  With `committing` the controller's commit (or a post-copy switch) reached us and
//                  the guest runs or is about to: a restarted agent finishes the commit.
//   outgoing.json  at the source while the VM is being migrated away. A restarted agent holds a
//                  VM whose QEMU completed the migration (paused, the target may run it) until
//                  the controller says commit or resume; otherwise it resumes it at once.
// Written whole through a rename: a crash leaves the old content or the new, never half of it.
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const INCOMING_MARKER = 'incoming.json';
export const OUTGOING_MARKER = 'outgoing.json';

export interface IncomingMark {
  migrationId: string;
  sourceHost: string;
  /** Set just before the guest is let run here. */
  committing?: boolean;
}

export interface OutgoingMark {
  migrationId: string;
  targetHost: string;
}

type Marker = typeof INCOMING_MARKER | typeof OUTGOING_MARKER;

export function writeMark(vmDir: string, file: typeof INCOMING_MARKER, mark: IncomingMark): void;
export function writeMark(vmDir: string, file: typeof OUTGOING_MARKER, mark: OutgoingMark): void;
export function writeMark(vmDir: string, file: Marker, mark: IncomingMark | OutgoingMark): void {
  const path = join(vmDir, file);
  writeFileSync(`${path}.tmp`, `${JSON.stringify(mark)}\n`, { flush: true });
  renameSync(`${path}.tmp`, path);
}

export function readMark(vmDir: string, file: typeof INCOMING_MARKER): IncomingMark | undefined;
export function readMark(vmDir: string, file: typeof OUTGOING_MARKER): OutgoingMark | undefined;
export function readMark(vmDir: string, file: Marker): IncomingMark | OutgoingMark | undefined {
  let text: string;
  try {
    text = readFileSync(join(vmDir, file), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const mark = JSON.parse(text) as Partial<IncomingMark & OutgoingMark>;
    if (typeof mark.migrationId !== 'string') return { migrationId: 'unknown', sourceHost: '', targetHost: '' } as IncomingMark & OutgoingMark;
    return mark as IncomingMark & OutgoingMark;
  } catch {
    // Unreadable: still a mark (the migration was under way), of an unknown migration.
    return { migrationId: 'unknown', sourceHost: '', targetHost: '' } as IncomingMark & OutgoingMark;
  }
}

export function clearMark(vmDir: string, file: Marker): void {
  rmSync(join(vmDir, file), { force: true });
}
