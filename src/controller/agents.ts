// Typed calls to the agents' API (src/contracts/agent-api.ts), each with a timeout and the task's
// AbortSignal. Agent errors arrive as FerryError with the agent's own code and words (QEMU's
// message stays verbatim), which the task keeps as its error.
import type { CloneRequest, ProbeResult, ResizeRequest, StopRequest } from '../contracts/agent-api.js';
import { AGENT_API_PREFIX } from '../contracts/agent-api.js';
import type { AgentSimpleAction } from '../contracts/agent-routes.js';
import { ApiClient } from '../contracts/http-client.js';
import type { VmSpec, VmStatus } from '../contracts/vm-spec.js';
import type { IncomingMigrationRequest, MeasureRequest, MeasureResult, MigrationProgress, OutgoingMigrationRequest } from '../contracts/migration.js';
import type { CheckpointProgress, ReceiveCheckpointRequest, RestoreRequest, ScrubReport, SendCheckpointRequest, StoredCheckpoint } from '../contracts/dr.js';

/** Agents act synchronously (a suspend writes all guest memory to disk), so allow time. */
export const DEFAULT_AGENT_TIMEOUT_MS = 120_000;
/** Quick reads (status, console) should not hang an API request for long. */
export const QUICK_TIMEOUT_MS = 10_000;
/** A scrub reads the whole store: about 1.5 GB/s of hashing, so an hour covers ~5 TB. */
const SCRUB_TIMEOUT_MS = 3_600_000;

/** The agent's actions without arguments (src/contracts/agent-routes.ts). */
export type SimpleAction = AgentSimpleAction;

const migrationPath = (id: string, rest = ''): string => `${AGENT_API_PREFIX}/migrations/${encodeURIComponent(id)}${rest}`;
const vmPath = (name: string, rest = ''): string => `${AGENT_API_PREFIX}/vms/${encodeURIComponent(name)}${rest}`;
const drPath = (rest: string): string => `${AGENT_API_PREFIX}/dr/${rest}`;

/** Where the controller's calls to a host get their mutual TLS (src/controller/tls.ts). */
export interface AgentTls {
  dispatcherFor(hostName: string): unknown;
}

export class AgentClient {
  private readonly api: ApiClient;
  constructor(
    hostName: string,
    url: string,
    tls: AgentTls,
    private readonly timeoutMs: number,
    stopped?: AbortSignal,
  ) {
    // No bearer token: the controller is its certificate, and the agent must be host `hostName`.
    this.api = new ApiClient(url, '', { dispatcher: () => tls.dispatcherFor(hostName), ...(stopped ? { signal: stopped } : {}) });
  }

  define(spec: VmSpec, signal?: AbortSignal): Promise<VmStatus> {
    return this.api.post<VmStatus>(`${AGENT_API_PREFIX}/vms`, spec, this.opts(signal));
  }

  get(name: string, signal?: AbortSignal): Promise<VmStatus> {
    return this.api.get<VmStatus>(vmPath(name), { timeoutMs: QUICK_TIMEOUT_MS, ...(signal ? { signal } : {}) });
  }

  action(name: string, action: SimpleAction, signal?: AbortSignal): Promise<VmStatus> {
    return this.api.post<VmStatus>(vmPath(name, `/${action}`), {}, this.opts(signal));
  }

  stop(name: string, req: StopRequest, signal?: AbortSignal): Promise<VmStatus> {
    // A graceful stop may legitimately take req.timeoutMs before the agent forces it.
    const timeoutMs = Math.max(this.timeoutMs, (req.timeoutMs ?? 10_000) + 30_000);
    return this.api.post<VmStatus>(vmPath(name, '/stop'), req, { timeoutMs, ...(signal ? { signal } : {}) });
  }

  resize(name: string, req: ResizeRequest, signal?: AbortSignal): Promise<VmStatus> {
    return this.api.post<VmStatus>(vmPath(name, '/resize'), req, this.opts(signal));
  }

  clone(name: string, req: CloneRequest, signal?: AbortSignal): Promise<VmStatus> {
    return this.api.post<VmStatus>(vmPath(name, '/clone'), req, this.opts(signal));
  }

  remove(name: string, signal?: AbortSignal): Promise<void> {
    return this.api.delete<void>(vmPath(name), this.opts(signal));
  }

  console(name: string, tailBytes?: number): Promise<string> {
    const q = tailBytes === undefined ? '' : `?tailBytes=${tailBytes}`;
    return this.api.get<string>(vmPath(name, `/console${q}`), { text: true, timeoutMs: QUICK_TIMEOUT_MS });
  }

  /** HTTP GET of a forwarded guest port, made by the agent on its own host. */
  probe(name: string, guestPort: number): Promise<ProbeResult> {
    return this.api.post<ProbeResult>(vmPath(name, '/probe'), { guestPort }, { timeoutMs: QUICK_TIMEOUT_MS });
  }

  /** Adds a forwarded guest port to the VM's spec and, if QEMU runs, at once (hostfwd_add). */
  forward(name: string, guestPort: number): Promise<VmStatus> {
    return this.api.post<VmStatus>(vmPath(name, '/forwards'), { guestPort }, { timeoutMs: QUICK_TIMEOUT_MS });
  }

  /** Measuring takes the dirty-rate sample (up to 10 s) plus a link probe. */
  measure(req: MeasureRequest, signal?: AbortSignal): Promise<MeasureResult> {
    return this.api.post<MeasureResult>(`${AGENT_API_PREFIX}/migrations/measure`, req, this.opts(signal));
  }

  incoming(req: IncomingMigrationRequest, signal?: AbortSignal): Promise<MigrationProgress> {
    return this.api.post<MigrationProgress>(`${AGENT_API_PREFIX}/migrations/incoming`, req, this.opts(signal));
  }

  outgoing(req: OutgoingMigrationRequest, signal?: AbortSignal): Promise<MigrationProgress> {
    return this.api.post<MigrationProgress>(`${AGENT_API_PREFIX}/migrations/outgoing`, req, this.opts(signal));
  }

  migration(id: string, signal?: AbortSignal): Promise<MigrationProgress> {
    return this.api.get<MigrationProgress>(migrationPath(id), { timeoutMs: QUICK_TIMEOUT_MS, ...(signal ? { signal } : {}) });
  }

  commitMigration(id: string, signal?: AbortSignal): Promise<MigrationProgress> {
    return this.api.post<MigrationProgress>(migrationPath(id, '/commit'), {}, this.opts(signal));
  }

  /** Never takes the task's signal: an abort must reach the agent even when the task was aborted. */
  abortMigration(id: string, opts: { targetGone?: boolean; timeoutMs?: number } = {}): Promise<MigrationProgress> {
    const body = opts.targetGone ? { targetGone: true } : {};
    return this.api.post<MigrationProgress>(migrationPath(id, '/abort'), body, { timeoutMs: opts.timeoutMs ?? QUICK_TIMEOUT_MS * 3 });
  }

  // --- disaster recovery (src/contracts/dr.ts) ---

  /** DR host: expect the checkpoint session `req.jobId`. */
  drReceive(req: ReceiveCheckpointRequest, signal?: AbortSignal): Promise<CheckpointProgress> {
    return this.api.post<CheckpointProgress>(drPath('receive'), req, this.opts(signal));
  }

  /** Protected host: capture the VM and send the checkpoint (answers at once; poll drJob). */
  drSend(req: SendCheckpointRequest, signal?: AbortSignal): Promise<CheckpointProgress> {
    return this.api.post<CheckpointProgress>(drPath('send'), req, this.opts(signal));
  }

  drJob(id: string, signal?: AbortSignal): Promise<CheckpointProgress> {
    return this.api.get<CheckpointProgress>(drPath(`jobs/${encodeURIComponent(id)}`), { timeoutMs: QUICK_TIMEOUT_MS, ...(signal ? { signal } : {}) });
  }

  /** Never takes the caller's signal: an abort must reach the agent even when the caller was aborted. */
  drAbort(id: string, timeoutMs = QUICK_TIMEOUT_MS): Promise<CheckpointProgress> {
    return this.api.post<CheckpointProgress>(drPath(`jobs/${encodeURIComponent(id)}/abort`), {}, { timeoutMs });
  }

  /** Committed checkpoints of a VM held here, newest first. */
  drStored(vm: string, signal?: AbortSignal): Promise<StoredCheckpoint[]> {
    return this.api.get<StoredCheckpoint[]>(drPath(`store/${encodeURIComponent(vm)}`), { timeoutMs: QUICK_TIMEOUT_MS, ...(signal ? { signal } : {}) });
  }

  drDeleteStore(vm: string, timeoutMs = QUICK_TIMEOUT_MS * 3): Promise<{ freedBytes: number }> {
    return this.api.delete<{ freedBytes: number }>(drPath(`store/${encodeURIComponent(vm)}`), { timeoutMs });
  }

  /** Re-hashes every chunk of the host's DR store (may take long on a big store). */
  drScrub(): Promise<ScrubReport> {
    return this.api.post<ScrubReport>(drPath('scrub'), {}, { timeoutMs: SCRUB_TIMEOUT_MS });
  }

  /** Starts a VM from a stored checkpoint (the VM, or a copy under `asName`). */
  drRestore(req: RestoreRequest, signal?: AbortSignal): Promise<VmStatus> {
    return this.api.post<VmStatus>(drPath('restore'), req, this.opts(signal));
  }

  private opts(signal?: AbortSignal): { timeoutMs: number; signal?: AbortSignal } {
    return { timeoutMs: this.timeoutMs, ...(signal ? { signal } : {}) };
  }
}

/**
 * One client per host and URL, made on demand (an agent's URL can change when it restarts). When
 * `stopped` fires, every call in flight and every later one ends at once: a controller that
 * stopped leading must not act on any agent (not even to abort), the new leader does.
 */
export class AgentPool {
  private readonly clients = new Map<string, AgentClient>();
  constructor(
    private readonly tls: AgentTls,
    private readonly timeoutMs = DEFAULT_AGENT_TIMEOUT_MS,
    private readonly stopped?: AbortSignal,
  ) {}

  /** The client for host `info.name` at `info.url`: the server must present that host's certificate. */
  forHost(info: { name: string; url: string }): AgentClient {
    const key = `${info.name} ${info.url}`;
    let c = this.clients.get(key);
    if (!c) {
      c = new AgentClient(info.name, info.url, this.tls, this.timeoutMs, this.stopped);
      this.clients.set(key, c);
    }
    return c;
  }
}
