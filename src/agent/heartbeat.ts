// Pushes this host's status and its VMs to the controller (POST /internal/v1/heartbeat).
// One heartbeat at a time (the next is scheduled when the previous one ends), failures are
// logged at most every 30 s and never stop the loop. The controller may ask for another interval,
// and answers the renewal CSR a heartbeat carries with the host's new certificate (onReply).
import { ApiClient, INTERNAL_PREFIX, type AgentHeartbeat, type HeartbeatReply } from '../contracts/index.js';
import { warnRateLimited } from './log.js';

const HEARTBEAT_TIMEOUT_MS = 5_000;
const WARN_EVERY_MS = 30_000;

export interface Heartbeat {
  stop(): void;
}

/** `dispatcher`: mutual TLS with the host's certificate, the pinned cluster CA and a controller's certificate required (host-identity.ts). */
export function startHeartbeat(controllerUrl: string | readonly string[], dispatcher: () => unknown, intervalMs: number, collect: () => Promise<AgentHeartbeat>, onReply?: (reply: Partial<HeartbeatReply>) => Promise<void> | void): Heartbeat {
  // Several controllers (one leading): the client follows the leader, trying the others when it fails.
  // No bearer token: the host is its certificate.
  const client = new ApiClient(controllerUrl, '', { dispatcher });
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let interval = intervalMs;
  const abort = new AbortController();

  const beat = async (): Promise<void> => {
    try {
      const body = await collect();
      const res = await client.post<Partial<HeartbeatReply> | undefined>(`${INTERNAL_PREFIX}/heartbeat`, body, { timeoutMs: HEARTBEAT_TIMEOUT_MS, signal: abort.signal });
      if (res && typeof res.intervalMs === 'number' && res.intervalMs >= 100 && res.intervalMs <= 60_000) interval = res.intervalMs;
      if (res && onReply) await onReply(res);
    } catch (err) {
      if (!stopped) warnRateLimited('ferry:agent', 'heartbeat', WARN_EVERY_MS, 'heartbeat to %s failed: %s', client.baseUrl, (err as Error).message);
    }
  };
  const loop = (): void => {
    if (stopped) return;
    void beat().finally(() => {
      if (!stopped) timer = setTimeout(loop, interval);
    });
  };
  loop();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      abort.abort();
    },
  };
}
