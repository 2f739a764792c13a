// The newest revision of each VM's status applied per host (VmStatus.rev), so a report older
// than one already applied — collected before an action finished, delivered after it — is
// recognised as stale and skipped.
import type { VmStatus } from '../../contracts/vm-spec.js';

const key = (host: string, st: VmStatus): string => `${host}/${st.uuid}`;

export class VmRevisions {
  private readonly newest = new Map<string, number>();

  /** Is this report older than one already applied from the same host? */
  isStale(host: string, st: VmStatus): boolean {
    const seen = this.newest.get(key(host, st));
    return st.rev !== undefined && seen !== undefined && st.rev < seen;
  }

  /** Remembers the report's revision as applied (a report without one changes nothing). */
  note(host: string, st: VmStatus): void {
    if (st.rev === undefined) return;
    this.newest.set(key(host, st), Math.max(st.rev, this.newest.get(key(host, st)) ?? 0));
  }
}
