// A small JSON-over-HTTP client used between components (CLI → controller, controller →
// agent). Every call has a timeout and an AbortSignal, responses are size-limited, and error
// bodies become FerryError with the server's code, so callers match on codes, not strings.
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

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: string,
  ) {}

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const signals = [AbortSignal.timeout(timeoutMs), ...(opts.signal ? [opts.signal] : [])];
    const signal = AbortSignal.any(signals);
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}` };
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(new URL(path, this.baseUrl), {
        method,
        headers,
        body: opts.body === undefined ? null : JSON.stringify(opts.body),
        signal,
      });
    } catch (err) {
      throw transportError(err, method, path, this.baseUrl, timeoutMs, opts.signal);
    }
    const raw = await readLimited(res, MAX_RESPONSE_BYTES);
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

function transportError(err: unknown, method: string, path: string, base: string, timeoutMs: number, caller?: AbortSignal): FerryError {
  if (caller?.aborted) return new FerryError('ABORTED', `${method} ${path}: aborted`, { cause: err });
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
