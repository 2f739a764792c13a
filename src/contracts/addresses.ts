// Where a component listens and what it tells others to dial (`--listen`, `--advertise`). A
// wildcard listen address (0.0.0.0, ::) is never advertised: peers would dial themselves. Without
// --advertise the advertised host is the listen address, or for a wildcard this machine's first
// non-loopback IPv4 address.
import { networkInterfaces } from 'node:os';

const WILDCARD = new Set(['0.0.0.0', '::', '[::]', '']);

/** The host part to advertise for a listener on `listenHost`. */
export function advertisedHost(listenHost: string, advertise?: string): string {
  if (advertise) return advertise;
  if (!WILDCARD.has(listenHost)) return listenHost === '::1' ? '[::1]' : listenHost;
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

/** `https://HOST:PORT` as peers should dial it. */
export function advertisedUrl(listenHost: string, port: number, advertise?: string): string {
  const host = advertisedHost(listenHost, advertise);
  return `https://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`;
}

/** Splits `HOST:PORT` / `[V6]:PORT` / `HOST` (then `defaultPort`). */
export function parseHostPort(s: string, defaultPort: number): { host: string; port: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(s) ?? /^([^:]+)(?::(\d+))?$/.exec(s);
  if (!m) throw new Error(`not HOST[:PORT]: ${s}`);
  const port = m[2] === undefined ? defaultPort : Number(m[2]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`bad port in ${s}`);
  return { host: m[1]!, port };
}
