// Typed calls to the agents' API (src/wire/agent-api.ts), each with a timeout and the task's
// AbortSignal. Agent errors arrive as FerryError with the agent's own code and words (QEMU's
// message stays verbatim), which the task keeps as its error.
import type { CloneRequest, ResizeRequest, StopRequest } from '../wire/agent-api.js';
import { AGENT_API_PREFIX } from '../wire/agent-api.js';
import { ApiClient } from '../wire/http-client.js';
import type { VmSpec, VmStatus } from '../wire/vm-spec.js';
import type { IncomingMigrationRequest, MeasureRequest, MeasureResult, MigrationProgress, OutgoingMigrationRequest } from '../wire/migration.js';

/** Agents act synchronously (a suspend writes all guest memory to disk), so allow time. */
export const DEFAULT_AGENT_TIMEOUT_MS = 120_000;
/** Quick reads (status, console) should not hang an API request for long. */
export const QUICK_TIMEOUT_MS = 10_000;

export type SimpleAction = 'start' | 'pause' | 'resume' | 'suspend' | 'restore';

const migrationPath = (id: string, rest = ''): string => `${AGENT_API_PREFIX}/migrations/${encodeURIComponent(id)}${rest}`;
const vmPath = (name: string, rest = ''): string => `${AGENT_API_PREFIX}/vms/${encodeURIComponent(name)}${rest}`;

export class AgentClient {
  private readonly api: ApiClient;
  constructor(
    url: string,
    secret: string,
    private readonly timeoutMs: number,
  ) {
    this.api = new ApiClient(url, secret);
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
  abortMigration(id: string, timeoutMs = QUICK_TIMEOUT_MS * 3): Promise<MigrationProgress> {
    return this.api.post<MigrationProgress>(migrationPath(id, '/abort'), {}, { timeoutMs });
  }

  private opts(signal?: AbortSignal): { timeoutMs: number; signal?: AbortSignal } {
    return { timeoutMs: this.timeoutMs, ...(signal ? { signal } : {}) };
  }
}

/** One client per agent URL, made on demand (an agent's URL can change when it restarts). */
export class AgentPool {
  private readonly clients = new Map<string, AgentClient>();
  constructor(
    private readonly secret: string,
    private readonly timeoutMs = DEFAULT_AGENT_TIMEOUT_MS,
  ) {}

  forUrl(url: string): AgentClient {
    let c = this.clients.get(url);
    if (!c) {
      c = new AgentClient(url, this.secret, this.timeoutMs);
      this.clients.set(url, c);
    }
    return c;
  }
}
