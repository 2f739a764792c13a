// A small JSON-over-HTTP client used between components (CLI → controller, controller →
// agent). Every call has a timeout and an AbortSignal, responses are size-limited, and error
// bodies become FerryError with the server's code, so callers match on codes, not strings.
// Given several controllers (PostgreSQL-backed, one leading), the client follows the leader: a
// standby's NOT_LEADER answer names the leader (LEADER_HEADER), and a controller that cannot be
// reached is skipped; with `followMs` it keeps trying that long while a new leader is elected.
import { setTimeout as sleep } from 'node:timers/promises';
import { FerryError, isErrorCode } from './errors.js';

export const DEFAULT_TIMEOUT_MS = 15_000;
export const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

export interface RequestOptions {
  body?: unknown;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Return the body as text instead of parsing JSON. */
  text?: boolean;
}

/** On a NOT_LEADER answer: the leader's URL, when the controller knows it. */
export const LEADER_HEADER = 'x-ferry-leader';

export interface ClientOptions {
  /**
   * The fetch dispatcher for HTTPS with the cluster CA pinned (and our certificate, for mutual
   * TLS): `httpsDispatcher` in src/pki. Read on every request, so a renewed certificate takes over.
   */
  dispatcher?: () => unknown;
  /** Every request also ends when this fires (a controller that stopped leading cuts its agent calls at once). */
  signal?: AbortSignal;
  /** With several URLs: how long to keep looking for the leader while none answers (default 0: one pass over the list). */
  followMs?: number;
}

const FOLLOW_PAUSE_MS = 250;
/** Transport failures that mean the request never reached the server, so even a POST may go elsewhere. */
const NEVER_SENT = ['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL'];

export class ApiClient {
  private readonly urls: readonly string[];
  private current = 0;

  constructor(
    baseUrl: string | readonly string[],
    private readonly token: string,
    private readonly client: ClientOptions = {},
  ) {
    this.urls = typeof baseUrl === 'string' ? [baseUrl] : [...baseUrl];
    if (this.urls.length === 0) throw new Error('ApiClient: no URL');
  }

  /** The URL requests go to now (the leader, as far as this client knows). */
  get baseUrl(): string {
    return this.urls[this.current]!;
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const deadline = performance.now() + (this.urls.length > 1 ? (this.client.followMs ?? 0) : 0);
    for (;;) {
      const tried = new Set<string>();
      for (;;) {
        const base = this.baseUrl;
        tried.add(base);
        let hint: string | undefined;
        try {
          return await this.once<T>(base, method, path, opts, (h) => (hint = h));
        } catch (err) {
          const next = this.urls.length > 1 ? this.nextAfter(err, method, tried, hint) : undefined;
          if (next === undefined) {
            if (this.urls.length > 1 && followable(err, method) && performance.now() < deadline && !opts.signal?.aborted) break;
            throw err;
          }
          this.current = next;
        }
      }
      await sleep(FOLLOW_PAUSE_MS, undefined, opts.signal ? { signal: opts.signal } : {}).catch(() => undefined);
      this.current = (this.current + 1) % this.urls.length;
    }
  }

  /** Where to try next after `err`: the leader a standby named, else the next URL not yet tried. */
  private nextAfter(err: unknown, method: string, tried: ReadonlySet<string>, hint: string | undefined): number | undefined {
    if (!followable(err, method)) return undefined;
    const named = hint === undefined ? -1 : this.urls.indexOf(hint);
    if (named >= 0 && !tried.has(hint!)) return named;
    for (let i = 1; i < this.urls.length; i++) {
      const j = (this.current + i) % this.urls.length;
      if (!tried.has(this.urls[j]!)) return j;
    }
    return undefined;
  }

  private async once<T>(base: string, method: string, path: string, opts: RequestOptions, onHint: (leader: string) => void): Promise<T> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const signals = [AbortSignal.timeout(timeoutMs), ...(opts.signal ? [opts.signal] : []), ...(this.client.signal ? [this.client.signal] : [])];
    const signal = AbortSignal.any(signals);
    // An empty token: the client is its certificate (mutual TLS), there is no bearer.
    const headers: Record<string, string> = this.token ? { authorization: `Bearer ${this.token}` } : {};
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(new URL(path, base), {
        method,
        headers,
        body: opts.body === undefined ? null : JSON.stringify(opts.body),
        signal,
        ...(this.client.dispatcher ? { dispatcher: this.client.dispatcher() } : {}),
      } as RequestInit);
    } catch (err) {
      throw transportError(err, method, path, base, timeoutMs, [opts.signal, this.client.signal].find((s) => s?.aborted) ?? opts.signal);
    }
    const raw = await readLimited(res, MAX_RESPONSE_BYTES);
    const leader = res.headers.get(LEADER_HEADER);
    if (leader) onHint(leader);
    if (!res.ok) throw errorFromResponse(res.status, raw, `${method} ${path}`);
    if (opts.text) return raw as T;
    if (res.status === 204 || raw.length === 0) return undefined as T;
    try {
      return JSON.parse(raw) as T;
    } catch (err) {
      throw new FerryError('INTERNAL', `${method} ${path}: response is not JSON`, { cause: err });
    }
  }

  get<T>(path: string, opts?: RequestOptions): Promise<T> {
    return this.request<T>('GET', path, opts);
  }
  post<T>(path: string, body: unknown = {}, opts?: RequestOptions): Promise<T> {
    return this.request<T>('POST', path, { ...opts, body });
  }
  put<T>(path: string, body: unknown, opts?: RequestOptions): Promise<T> {
    return this.request<T>('PUT', path, { ...opts, body });
  }
  delete<T>(path: string, opts?: RequestOptions): Promise<T> {
    return this.request<T>('DELETE', path, opts);
  }
}

/** A standby's refusal, or a controller that cannot be reached (for a change: one the request never reached). */
function followable(err: unknown, method: string): boolean {
  if (!(err instanceof FerryError)) return false;
  if (err.code === 'NOT_LEADER') return true;
  if (err.code !== 'HOST_DOWN') return false;
  if (method === 'GET' || method === 'HEAD') return true;
  const code = (err.cause as { cause?: { code?: string } } | undefined)?.cause?.code;
  return code !== undefined && NEVER_SENT.includes(code);
}

function transportError(err: unknown, method: string, path: string, base: string, timeoutMs: number, caller?: AbortSignal): FerryError {
  // A reason with a code of ours is the answer (a standby controller's agent calls end with NOT_LEADER).
  if (caller?.aborted) return caller.reason instanceof FerryError ? caller.reason : new FerryError('ABORTED', `${method} ${path}: aborted`, { cause: err });
  const name = (err as Error)?.name;
  if (name === 'TimeoutError') return new FerryError('TIMEOUT', `${method} ${path}: no answer from ${base} within ${timeoutMs} ms`, { cause: err });
  const cause = (err as { cause?: { code?: string } })?.cause;
  const why = cause?.code ?? (err as Error)?.message ?? String(err);
  return new FerryError('HOST_DOWN', `cannot reach ${base} (${why})`, { cause: err });
}

function errorFromResponse(status: number, raw: string, what: string): FerryError {
  try {
    const body = JSON.parse(raw) as { error?: { code?: string; message?: string; field?: string } };
    const e = body.error;
    if (e?.code && e.message) {
      const code = isErrorCode(e.code) ? e.code : 'INTERNAL';
      return new FerryError(code, e.message, e.field ? { field: e.field } : {});
    }
  } catch {
    // fall through: not our error body
  }
  const code = status === 401 ? 'UNAUTHORIZED' : status === 404 ? 'NOT_FOUND' : 'INTERNAL';
  return new FerryError(code, `${what}: HTTP ${status} ${raw.slice(0, 200)}`);
}

async function readLimited(res: Response, limit: number): Promise<string> {
  if (!res.body) return '';
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > limit) throw new FerryError('INTERNAL', `response larger than ${limit} bytes`);
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks).toString('utf8');
}
