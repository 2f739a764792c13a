// Small helpers for the controller's tests: raw HTTP calls that return status and parsed body
// (tests need to see 401s and 400s, which ApiClient turns into exceptions), waiting for a task to
// end, and reading a few events off the SSE stream.
import { waitFor } from '../wait-for.js';

export interface Reply {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- tests inspect arbitrary JSON
  text: string;
  contentType: string;
  headers: Headers;
}

export async function call(base: string, method: string, path: string, opts: { token?: string; body?: unknown } = {}): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(new URL(path, base), { method, headers, body: opts.body === undefined ? null : JSON.stringify(opts.body) });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, body, text, contentType: res.headers.get('content-type') ?? '', headers: res.headers };
}

/**
 * A test's view of one controller: `api` with the admin token, `beat` for a fake agent's
 * heartbeat with the cluster secret, `finished` waits for a task to end and returns it.
 */
export function controllerClient(url: () => string, adminToken: string, clusterSecret: string, taskLimitMs = 10_000) {
  const api = (method: string, path: string, body?: unknown): Promise<Reply> => call(url(), method, `/api/v1${path}`, { token: adminToken, ...(body !== undefined ? { body } : {}) });
  return {
    api,
    beat: (agent: { heartbeat(): unknown }): Promise<Reply> => call(url(), 'POST', '/internal/v1/heartbeat', { token: clusterSecret, body: agent.heartbeat() }),
    finished: (id: string): Promise<Reply['body']> =>
      waitFor(`task ${id}`, async () => {
        const t = (await api('GET', `/tasks/${id}`)).body;
        return ['succeeded', 'failed', 'aborted'].includes(t.state) ? t : undefined;
      }, { timeoutMs: taskLimitMs, everyMs: 25 }),
  };
}

export interface SseEvent {
  id: string;
  event: string;
  data: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- tests inspect arbitrary JSON
}

/** Opens the event stream and collects events until `until` is satisfied (or the limit passes). */
export async function openEvents(base: string, token: string): Promise<{ status: number; events: SseEvent[]; next(pred: (e: SseEvent) => boolean, limitMs?: number): Promise<SseEvent>; close(): void }> {
  const ac = new AbortController();
  const res = await fetch(new URL('/api/v1/events', base), { headers: { authorization: `Bearer ${token}` }, signal: ac.signal });
  const events: SseEvent[] = [];
  const waiters: (() => void)[] = [];
  if (res.ok && res.body) {
    void (async () => {
      let buf = '';
      const decoder = new TextDecoder();
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          buf += decoder.decode(chunk, { stream: true });
          let i: number;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const fields: Record<string, string> = {};
            for (const line of block.split('\n')) {
              if (line.startsWith(':')) continue;
              const c = line.indexOf(': ');
              if (c > 0) fields[line.slice(0, c)] = line.slice(c + 2);
            }
            if (fields.data !== undefined) events.push({ id: fields.id ?? '', event: fields.event ?? '', data: JSON.parse(fields.data) });
            for (const w of waiters.splice(0)) w();
          }
        }
      } catch {
        // aborted by close()
      }
    })();
  }
  return {
    status: res.status,
    events,
    async next(pred, limitMs = 10_000) {
      return waitFor('an event', async () => {
        const found = events.find(pred);
        if (found) return found;
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 100);
        });
        return undefined;
      }, { timeoutMs: limitMs, everyMs: 25 });
    },
    close: () => ac.abort(),
  };
}
