// The agent calls behind the DR interfaces (cycle.ts's CheckpointIo, failover.ts's FailoverIo's
// host-level calls), each with the timeouts of agents.ts. Acting on a host needs it up; an
// abort goes out even to a host marked down (it may only be slow or cut off for a moment).
import type { CheckpointProgress, CheckpointRecord } from '../../contracts/dr.js';
import { FerryError, type ErrorCode } from '../../contracts/errors.js';
import type { VmStatus } from '../../contracts/vm-spec.js';
import type { ProbeResult } from '../../contracts/agent-api.js';
import type { AgentClient, AgentPool } from '../agents.js';
import type { ClusterState } from '../cluster-state.js';
import { NotFoundError } from '../errors.js';
import { createLog } from '../log.js';
import type { CheckpointIo } from './cycle.js';

export const log = createLog('ferry:controller:dr');

/** One try per side, short: a failover must not wait long on a host that is gone. */
const ABORT_TIMEOUT_MS = 5000;
const CONSOLE_TAIL_BYTES = 4096;

const isCode = (err: unknown, ...codes: ErrorCode[]): boolean => err instanceof FerryError && codes.includes(err.code);

export class DrAgents {
  constructor(
    private readonly state: ClusterState,
    private readonly agents: AgentPool,
  ) {}

  /** The agent of a host that must be up. */
  up(host: string): AgentClient {
    return this.agents.forHost(this.state.requireHostUp(host).info);
  }

  /** The agent of a host, up or not. */
  any(host: string): AgentClient {
    const h = this.state.hosts.get(host);
    if (!h) throw new NotFoundError(`host ${host}`);
    return this.agents.forHost(h.info);
  }

  checkpointIo(jobId: string, from: string, to: string, hooks: { committed(rec: CheckpointRecord): void; progress?(p: CheckpointProgress): void }): CheckpointIo {
    return {
      receive: async (req, signal) => this.up(to).drReceive(req, signal),
      send: async (req, signal) => this.up(from).drSend(req, signal),
      sourceJob: async (signal) => this.up(from).drJob(jobId, signal),
      targetJob: async (signal) => this.up(to).drJob(jobId, signal),
      abortBoth: async () => void (await Promise.all([this.abort(from, jobId), this.abort(to, jobId)])),
      committed: hooks.committed,
      ...(hooks.progress ? { progress: hooks.progress } : {}),
      log,
    };
  }

  /** Never throws: a host that does not answer is logged (its job fails on its own once its peer's is gone). */
  async abort(host: string, jobId: string): Promise<void> {
    try {
      await this.any(host).drAbort(jobId, ABORT_TIMEOUT_MS);
    } catch (err) {
      if (!isCode(err, 'NOT_FOUND')) log('checkpoint job %s: abort on %s failed: %s', jobId, host, (err as Error).message);
    }
  }

  /** The VM as the host reports it, or undefined if the host has no such VM. */
  async status(host: string, name: string): Promise<VmStatus | undefined> {
    try {
      return await this.up(host).get(name);
    } catch (err) {
      if (isCode(err, 'NOT_FOUND')) return undefined;
      throw err;
    }
  }

  async console(host: string, name: string): Promise<string> {
    return this.up(host).console(name, CONSOLE_TAIL_BYTES);
  }

  probe(host: string, name: string, guestPort: number): Promise<ProbeResult> {
    return this.up(host).probe(name, guestPort);
  }

  async resume(host: string, name: string): Promise<void> {
    try {
      await this.any(host).action(name, 'resume');
    } catch (err) {
      log('could not resume %s on %s: %s', name, host, (err as Error).message);
    }
  }

  /** Forced stop, then delete with its files; a VM already stopped or gone is fine. */
  async discard(host: string, name: string): Promise<void> {
    const agent = this.up(host);
    await agent.stop(name, { force: true }).catch((err: unknown) => {
      if (!isCode(err, 'NOT_FOUND', 'INVALID_STATE')) throw err;
    });
    await agent.remove(name).catch((err: unknown) => {
      if (!isCode(err, 'NOT_FOUND')) throw err;
    });
  }

  /** Frees the VM's checkpoints at a host; best effort (logged). */
  async deleteStore(host: string, vm: string): Promise<void> {
    try {
      const { freedBytes } = await this.any(host).drDeleteStore(vm);
      log('freed %d bytes of checkpoints of %s on %s', freedBytes, vm, host);
    } catch (err) {
      log('could not free the checkpoints of %s on %s: %s', vm, host, (err as Error).message);
    }
  }
}
