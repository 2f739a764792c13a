// Small helpers for the controller's tests: raw HTTP calls that return status and parsed body
// (tests need to see 401s and 400s, which ApiClient turns into exceptions), waiting for a task to
// end, and reading a few events off the SSE stream.
import type { Dispatcher } from 'undici';
import { JOIN_PATH } from '../../contracts/enrolment.js';
import { csrForKey } from '../../pki/index.js';
import type { TestPki } from '../pki.js';
import { waitFor } from '../wait-for.js';

export interface Reply {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- tests inspect arbitrary JSON
  text: string;
  contentType: string;
  headers: Headers;
}

/** `dispatcher`: present a certificate (mutual TLS); without one, the process's global fetch (the test CAs trusted, pki.ts). */
export async function call(base: string, method: string, path: string, opts: { token?: string; body?: unknown; dispatcher?: Dispatcher } = {}): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const init = { method, headers, body: opts.body === undefined ? null : JSON.stringify(opts.body), ...(opts.dispatcher ? { dispatcher: opts.dispatcher } : {}) };
  const res = await fetch(new URL(path, base), init as RequestInit);
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
 * Joins host `name` with the controller at `base` as a real agent would (a token minted with the
 * admin token, a CSR for the key the test PKI gave the host), so that the host's certificate is
 * taken on /internal. Returns the join's reply.
 */
export async function enrolHost(base: string, adminToken: string, pki: TestPki, name: string): Promise<Reply> {
  const minted = await call(base, 'POST', '/api/v1/hosts/tokens', { token: adminToken, body: {} });
  if (minted.status !== 200) throw new Error(`no join token: ${minted.status} ${minted.text}`);
  const csr = await csrForKey((await pki.identity(name)).keyPem, name);
  return call(base, 'POST', JOIN_PATH, { body: { token: minted.body.token, name, csr } });
}

const joined = new WeakMap<TestPki, Set<string>>();

/** POST a fake agent's heartbeat to the controller at `base` with its host certificate, joining first if it has not yet (one cluster per PKI: controllers sharing a CA share their enrolments). */
export async function beatAs(base: string, adminToken: string, pki: TestPki, agent: { name: string; heartbeat(): unknown }): Promise<Reply> {
  let done = joined.get(pki);
  if (!done) joined.set(pki, (done = new Set()));
  const key = agent.name;
  if (!done.has(key)) {
    const j = await enrolHost(base, adminToken, pki, agent.name);
    if (j.status !== 200) return j;
    done.add(key);
  }
  const dispatcher = await pki.dispatcher('host', agent.name, { role: 'controller' });
  return call(base, 'POST', '/internal/v1/heartbeat', { body: agent.heartbeat(), dispatcher });
}

/**
 * A test's view of one controller: `api` with the admin token, `beat` for a fake agent's
 * heartbeat over mutual TLS with its host certificate (the host joins first, once per controller
 * URL), `finished` waits for a task to end and returns it.
 */
export function controllerClient(url: () => string, adminToken: string, pki: TestPki, taskLimitMs = 10_000) {
  const api = (method: string, path: string, body?: unknown): Promise<Reply> => call(url(), method, `/api/v1${path}`, { token: adminToken, ...(body !== undefined ? { body } : {}) });
  const beat = (agent: { name: string; heartbeat(): unknown }): Promise<Reply> => beatAs(url(), adminToken, pki, agent);
  return {
    api,
    beat,
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
