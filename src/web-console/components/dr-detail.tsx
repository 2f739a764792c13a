// A protected VM expanded: its points in time at the DR site and its failover / DR test /
// failback reports (newest first). Reloaded when the DR view bumps the VM's revision (a new
// checkpoint, a failover task ending).
import { signal, type Signal } from '@preact/signals';
import { useEffect, useState } from 'preact/hooks';
import type { CheckpointRecord, FailoverReport } from '../../contracts/dr.js';
import { api, API } from '../api.js';
import { DrReport } from './dr-report.js';
import { bytes, duration } from '../../contracts/format.js';

const revisions = new Map<string, Signal<number>>();
const revisionOf = (vm: string): Signal<number> => {
  let s = revisions.get(vm);
  if (!s) revisions.set(vm, (s = signal(0)));
  return s;
};
/** Asks an expanded VM's detail to reload. */
export const bumpDetail = (vm: string): void => void revisionOf(vm).value++;

const SHOWN_CHECKPOINTS = 10;

export function DrDetail({ vm }: { vm: string }) {
  const rev = revisionOf(vm).value;
  const [checkpoints, setCheckpoints] = useState<CheckpointRecord[] | undefined>();
  const [reports, setReports] = useState<FailoverReport[] | undefined>();
  const [error, setError] = useState<string | undefined>();
  useEffect(() => {
    let live = true;
    const q = encodeURIComponent(vm);
    Promise.all([api.get<CheckpointRecord[]>(`${API}/dr/protections/${q}/checkpoints`), api.get<FailoverReport[]>(`${API}/dr/reports?vm=${q}`)]).then(
      ([c, r]) => {
        if (!live) return;
        setCheckpoints(c);
        setReports(r);
        setError(undefined);
      },
      (e: Error) => live && setError(e.message),
    );
    return () => {
      live = false;
    };
  }, [vm, rev]);

  return (
    <div class="dr-detail">
      {error && <p class="error" role="alert">{error}</p>}
      <h3>Points in time{checkpoints && checkpoints.length > SHOWN_CHECKPOINTS ? <span class="muted"> (newest {SHOWN_CHECKPOINTS} of {checkpoints.length})</span> : null}</h3>
      {!checkpoints ? (
        <p class="muted">Loading…</p>
      ) : checkpoints.length === 0 ? (
        <p class="muted">No checkpoint committed yet.</p>
      ) : (
        <table class="dr-checkpoints">
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">Taken</th>
              <th scope="col" class="num">Pause</th>
              <th scope="col" class="num">Took</th>
              <th scope="col" class="num">On the wire</th>
              <th scope="col" class="num">New bytes stored</th>
              <th scope="col" class="num">Guest seq</th>
              <th scope="col">DR host</th>
            </tr>
          </thead>
          <tbody>
            {checkpoints.slice(0, SHOWN_CHECKPOINTS).map((c) => (
              <tr key={c.seq}>
                <td class="num">{c.seq}</td>
                <td>{new Date(c.takenAt).toLocaleString()}</td>
                <td class="num">{duration(c.pauseMs)}</td>
                <td class="num">{duration(c.durationMs)}</td>
                <td class="num">{bytes(c.wireBytes)}</td>
                <td class="num">{bytes(c.newBytes)}</td>
                <td class="num">{c.guestSeq ?? '–'}</td>
                <td>{c.host}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h3>DR test evidence and failover reports</h3>
      <div data-testid="dr-reports" aria-live="polite">
        {!reports ? (
          <p class="muted">Loading…</p>
        ) : reports.length === 0 ? (
          <p class="muted">No DR test or failover yet. Run a test failover to prove the copy starts and works.</p>
        ) : (
          reports.map((r) => <DrReport key={r.id} r={r} />)
        )}
      </div>
    </div>
  );
}
