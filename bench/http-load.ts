// A small closed-loop HTTP client for the benchmarks: each client sends its next GET as soon as
// its last one ended, until a fixed window is over (the requests under way then are awaited and
// counted). A fresh connection per request (`Connection: close`), or kept-alive connections.
// Latency: the request's start (before connecting) to the answer's last byte.
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

export interface LoadResult {
  mode: string;
  clients: number;
  keepAlive: boolean;
  /** Wall clock (ms since the epoch): the first request's start, the last one's end. */
  from: number;
  to: number;
  /** Answered with 200. */
  requests: number;
  reqPerSec: number;
  /** Of the answered requests, ms. */
  latencyMs: { p50: number; p90: number; max: number };
  errors: number;
  /** Each distinct error and how often it came. */
  errorKinds: Record<string, number>;
}

/** One GET; its duration, and what went wrong if it was not answered with 200. */
export function httpGet(url: string, agent: Agent | false, timeoutMs: number): Promise<{ ms: number; error?: string; reused: boolean; connection?: string }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    const req = request(url, { agent, timeout: timeoutMs });
    const end = (error?: string, connection?: string): void => {
      if (settled) return;
      settled = true;
      resolve({ ms: performance.now() - t0, reused: req.reusedSocket, ...(error ? { error } : {}), ...(connection ? { connection } : {}) });
    };
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => end(res.statusCode === 200 ? undefined : `HTTP ${res.statusCode}`, res.headers.connection));
      res.on('error', (err) => end(err.message));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
    req.on('error', (err) => end(err.message));
    req.end();
  });
}

/** Whether the server keeps a connection open: two GETs through a keep-alive agent, the second on the first's socket? */
export async function keepAliveSupported(url: string, timeoutMs: number): Promise<{ supported: boolean; connection: string }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const first = await httpGet(url, agent, timeoutMs);
    if (first.error) throw new Error(`keep-alive check: ${first.error}`);
    const second = await httpGet(url, agent, timeoutMs);
    if (second.error) throw new Error(`keep-alive check: ${second.error}`);
    return { supported: second.reused, connection: first.connection ?? '(no Connection header)' };
  } finally {
    agent.destroy();
  }
}

/** Nearest rank. */
function percentile(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]! : NaN;
}

export async function closedLoop(url: string, o: { mode: string; clients: number; keepAlive: boolean; windowMs: number; timeoutMs: number }): Promise<LoadResult> {
  const agent = o.keepAlive ? new Agent({ keepAlive: true, maxSockets: o.clients }) : false;
  const latencies: number[] = [];
  const errorKinds: Record<string, number> = {};
  const from = Date.now();
  const t0 = performance.now();
  try {
    await Promise.all(
      Array.from({ length: o.clients }, async () => {
        while (performance.now() - t0 < o.windowMs) {
          const r = await httpGet(url, agent, o.timeoutMs);
          if (r.error === undefined) latencies.push(r.ms);
          else {
            errorKinds[r.error] = (errorKinds[r.error] ?? 0) + 1;
            await sleep(100); // a refused connection would otherwise spin
          }
        }
      }),
    );
  } finally {
    if (agent) agent.destroy();
  }
  const spanMs = performance.now() - t0;
  const sorted = latencies.sort((a, b) => a - b);
  return {
    mode: o.mode, clients: o.clients, keepAlive: o.keepAlive, from, to: from + Math.round(spanMs), requests: sorted.length, reqPerSec: (sorted.length * 1000) / spanMs,
    latencyMs: { p50: percentile(sorted, 0.5), p90: percentile(sorted, 0.9), max: sorted.at(-1) ?? NaN },
    errors: Object.values(errorKinds).reduce((a, b) => a + b, 0), errorKinds,
  };
}
