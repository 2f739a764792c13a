// What a heartbeat changes in the VM records: a pure decision from (records, what the agent
// reports) to a list of changes, so the rules are testable without a database or a network.
//
// The agent is the truth about what runs on its host:
// - a VM it reports that we know on this host: take its state, metrics, endpoints and error;
// - a VM it reports that we do not know at all: adopt it (it was defined on the agent directly,
//   or the controller lost its database) — unless it was just deleted through us (a heartbeat
//   that left the agent before the delete can arrive after it), or its name is taken by a
//   different VM (that record wins; the agent's VM is ignored and logged);
// - a VM we place on this host that the agent does not report: keep the record (a host that
//   forgot a VM is worth a human's attention, not a silent delete) and note it in `error`.
// VMs with a task in flight are left to that task, which applies the agent's answers itself;
// a report whose revision is older than one already applied is stale and skipped.
// A VM being migrated is reported by both hosts (the target holds the incoming copy): the
// target's report is skipped without a word — it neither becomes a VM of its own nor takes
// over the record; only the migration task moves the record, after the target's commit.
// A DR test copy (`web-drtest-1`, restored from a checkpoint while production runs on) is not
// a VM of record either: its name is held by the test task and its reports are skipped too.
// Killed on sight: a live copy of a VM whose record is on another host now (its host was cut off,
// and high availability restarted the VM elsewhere; or a migration's source that outlived the
// commit) is not the VM of record, and a VM never runs twice: its agent is told to SIGKILL it.
// Not while a task holds the VM (it may be that very move), and not a copy with another uuid
// (a different VM that happens to share the name: logged and left alone).
import type { Vm } from '../contracts/controller-api.js';
import type { VmStatus } from '../contracts/vm-spec.js';
import type { VmPatch } from './vms-repo.js';

export type ReconcileChange =
  | { kind: 'update'; name: string; patch: VmPatch; status: VmStatus }
  | { kind: 'adopt'; status: VmStatus }
  | { kind: 'missing'; name: string; error: string }
  | { kind: 'ignore'; name: string; why: string }
  | { kind: 'kill'; name: string; uuid: string; why: string };

/** Reported states in which a QEMU process exists. */
const LIVE: ReadonlySet<VmStatus['state']> = new Set(['starting', 'running', 'paused', 'suspending', 'restoring', 'stopping']);

export interface ReconcileInput {
  host: string;
  /** Every VM record (all hosts: a name is unique cluster-wide). */
  records: readonly Vm[];
  reported: readonly VmStatus[];
  busy: (name: string) => boolean;
  recentlyRemoved: (uuid: string) => boolean;
  /** The host a VM is migrating to, if it is. */
  movingTo?: (name: string) => string | undefined;
  /** A report older than one already applied (e.g. collected before an action finished). */
  stale?: (st: VmStatus) => boolean;
  /** A name that is not a VM of record (a DR test copy): never adopted nor applied. */
  foreign?: (name: string) => boolean;
}

export const missingMessage = (host: string): string => `host ${host} does not report this VM`;

export function reconcile(inp: ReconcileInput): ReconcileChange[] {
  const byName = new Map(inp.records.map((r) => [r.name, r]));
  const seen = new Set<string>();
  const out: ReconcileChange[] = [];
  for (const st of inp.reported) {
    seen.add(st.name);
    const rec = byName.get(st.name);
    if (rec && rec.uuid === st.uuid && inp.movingTo?.(st.name) === inp.host) continue;
    if (!rec && inp.foreign?.(st.name)) continue;
    if (!rec) {
      if (inp.recentlyRemoved(st.uuid)) out.push({ kind: 'ignore', name: st.name, why: 'deleted moments ago' });
      else out.push({ kind: 'adopt', status: st });
      continue;
    }
    if (rec.uuid === st.uuid && rec.host !== inp.host && LIVE.has(st.state) && !inp.busy(st.name)) {
      out.push({ kind: 'kill', name: st.name, uuid: st.uuid, why: `VM ${st.name} runs on host ${rec.host} now; this copy on ${inp.host} is stale` });
      continue;
    }
    if (rec.uuid !== st.uuid || rec.host !== inp.host) {
      out.push({ kind: 'ignore', name: st.name, why: `name belongs to VM ${rec.uuid} on host ${rec.host}` });
      continue;
    }
    if (inp.busy(st.name) || inp.stale?.(st)) continue;
    const patch: VmPatch = { state: st.state, endpoints: st.endpoints, error: st.error };
    if (st.metrics) patch.metrics = st.metrics;
    out.push({ kind: 'update', name: st.name, patch, status: st });
  }
  for (const rec of inp.records) {
    if (rec.host !== inp.host || seen.has(rec.name) || inp.busy(rec.name)) continue;
    const error = missingMessage(inp.host);
    if (rec.error !== error) out.push({ kind: 'missing', name: rec.name, error });
  }
  return out;
}
