// The console's REST client: same-origin fetch with the session cookie, the CSRF header on every
// request (the controller demands it on changes), JSON in and out, and the controller's error
// body turned into an Error whose message is the controller's own words.
import { signal } from '@preact/signals';

export const CONSOLE_HEADER = 'x-ferry-console';

/** Set when a request comes back 401: the shell shows the login form again. */
export const loggedOut = signal(false);

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: { [CONSOLE_HEADER]: '1', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  if (res.status === 401) loggedOut.value = true;
  const text = await res.text();
  const data: unknown = text ? (res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text) : undefined;
  if (!res.ok) {
    const e = data as { error?: { code?: string; message?: string } } | undefined;
    throw new ApiError(res.status, e?.error?.code ?? `HTTP_${res.status}`, e?.error?.message ?? `${method} ${path}: HTTP ${res.status}`);
  }
  return data as T;
}

export const api = {
  get: <T>(path: string) => request<T>('GET', path),
  post: <T>(path: string, body: unknown = {}) => request<T>('POST', path, body),
  put: <T>(path: string, body: unknown) => request<T>('PUT', path, body),
  del: <T>(path: string) => request<T>('DELETE', path),
};

export const API = '/api/v1';
export const vmPath = (name: string, rest = ''): string => `${API}/vms/${encodeURIComponent(name)}${rest}`;

export async function login(token: string): Promise<void> {
  const res = await fetch('/console/login', { method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
  if (res.status === 429) throw new Error('Too many attempts; wait a minute and try again.');
  if (!res.ok) throw new Error('That token is not this cluster\'s admin token.');
  loggedOut.value = false;
}

export async function logout(): Promise<void> {
  await fetch('/console/logout', { method: 'POST', credentials: 'same-origin' });
  loggedOut.value = true;
}

export async function hasSession(): Promise<boolean> {
  const res = await fetch('/console/session', { credentials: 'same-origin' });
  return res.ok;
}
