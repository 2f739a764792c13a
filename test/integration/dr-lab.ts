// What the agent-level DR tests share: checkpoints of one VM from a protected agent to a DR
// agent, driven as the controller would (receive, then send, then wait for the outcome), with a
// seq counting up from 1; and a demo guest whose http workload answers on a forwarded port.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { ApiClient, CheckpointProgress, VmSpec, VmStatus } from '../../src/contracts/index.js';
import { P, httpStatus, statusOf, waitSeqAbove } from '../../src/testing/agent.js';
import { waitFor } from '../../src/testing/wait-for.js';

export class CheckpointDriver {
  seq = 0;

  /** `source` is asked anew for each call: the protected agent may have been restarted. */
  constructor(
    private readonly source: () => ApiClient,
    private readonly target: ApiClient,
    private readonly o: { spec: VmSpec; targetDataUrl: string; keep: number },
  ) {}

  /** Starts the next checkpoint; returns its job id. */
  async start(holdOutput: boolean): Promise<string> {
    const jobId = randomUUID();
    const seq = ++this.seq;
    const vm = this.o.spec.name;
    await this.target.post(`${P}/dr/receive`, { jobId, vm, seq, sourceHost: 'h1', spec: this.o.spec, keep: this.o.keep });
    await this.source().post(`${P}/dr/send`, { jobId, vm, seq, targetHost: 'h2', targetDataUrl: this.o.targetDataUrl, holdOutput });
    return jobId;
  }

  /** The next checkpoint, which must commit. */
  async run(holdOutput: boolean): Promise<void> {
    const jobId = await this.start(holdOutput);
    const p = await waitFor(`checkpoint ${this.seq}`, async () => {
      const j = await this.source().get<CheckpointProgress>(`${P}/dr/jobs/${jobId}`);
      return j.state === 'committed' || j.state === 'failed' ? j : undefined;
    }, { timeoutMs: 180_000, everyMs: 100 });
    assert.equal(p.state, 'committed', JSON.stringify(p.error));
  }
}

/** Creates and starts `spec` (http workload, guest port 80 forwarded) and resolves with its URL once the guest answers. */
export async function startHttpGuest(a: ApiClient, spec: VmSpec): Promise<string> {
  await a.post(`${P}/vms`, spec);
  const st = await a.post<VmStatus>(`${P}/vms/${spec.name}/start`);
  const ep = (st.endpoints.length > 0 ? st : await statusOf(a, spec.name)).endpoints.find((e) => e.guestPort === 80);
  assert.ok(ep, 'the http workload is forwarded');
  const url = `http://${ep.host}:${ep.port}/`;
  await waitSeqAbove(a, spec.name, 1);
  await waitFor('the guest answers http', async () => ((await httpStatus(url)) === 200 ? true : undefined), { timeoutMs: 90_000, everyMs: 500 });
  return url;
}
