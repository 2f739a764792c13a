// Typed calls to the image routes of an agent (route table: src/contracts/agent-routes.ts),
// each with a timeout and the caller's signal; `stopped` (the controller stopped leading) ends
// every call at once, as for AgentPool.
import type { AgentImportRequest, AgentReceiveImageRequest, AgentSendImageRequest, ImageJobProgress } from '../../contracts/images.js';
import { AGENT_API_PREFIX } from '../../contracts/agent-api.js';
import { ApiClient } from '../../contracts/http-client.js';

const TIMEOUT_MS = 30_000;
const P = `${AGENT_API_PREFIX}/images`;

export class ImageAgent {
  private readonly api: ApiClient;

  constructor(url: string, secret: string, stopped?: AbortSignal) {
    this.api = new ApiClient(url, secret, stopped ? { signal: stopped } : {});
  }

  import(req: AgentImportRequest, signal?: AbortSignal): Promise<ImageJobProgress> {
    return this.api.post(`${P}/import`, req, this.opts(signal));
  }

  send(req: AgentSendImageRequest, signal?: AbortSignal): Promise<ImageJobProgress> {
    return this.api.post(`${P}/send`, req, this.opts(signal));
  }

  receive(req: AgentReceiveImageRequest, signal?: AbortSignal): Promise<ImageJobProgress> {
    return this.api.post(`${P}/receive`, req, this.opts(signal));
  }

  job(id: string, signal?: AbortSignal): Promise<ImageJobProgress> {
    return this.api.get(`${P}/jobs/${encodeURIComponent(id)}`, this.opts(signal));
  }

  abort(id: string): Promise<ImageJobProgress> {
    return this.api.post(`${P}/jobs/${encodeURIComponent(id)}/abort`, {}, this.opts());
  }

  remove(imageId: string, signal?: AbortSignal): Promise<void> {
    return this.api.delete(`${P}/${encodeURIComponent(imageId)}`, this.opts(signal));
  }

  private opts(signal?: AbortSignal): { timeoutMs: number; signal?: AbortSignal } {
    return { timeoutMs: TIMEOUT_MS, ...(signal ? { signal } : {}) };
  }
}
