// The DataPlane over ferry-wire (docs/ferry-wire.md) on mutual TLS: only peers holding a
// certificate from the cluster CA get past the handshake; the client checks that the server's
// CN is the host it meant to reach, the server checks that a migration session comes from the
// host the controller named in POST /migrations/incoming. The endpoint listens once the host
// has its certificate (at once with AgentOptions.tls, else after the controller signs the CSR).
// Limits: connections per peer and in total (connection-caps.ts), a TLS handshake timeout, and
// per session the channels each kind needs (ferry-wire refuses frames on any other).
import { once } from 'node:events';
import { connect, createServer, type Server, type TLSSocket } from 'node:tls';
import { FerryError, MAX_DISKS } from '../../contracts/index.js';
import { peerHostName, tlsOptions } from '../../pki/index.js';
import { acceptSession, measureLink, openSession, WireError, type WireSession } from '../../ferry-wire/index.js';
import { log } from '../log.js';
import type { ConnectOptions, DataPlane, DataSession, ExpectOptions, SessionHello } from './plane.js';
import { parseDataUrl } from './plane.js';
import type { TlsIdentity } from './tls-identity.js';
import { ConnectionCaps, DEFAULT_CONNECTION_LIMITS, type ConnectionLimits } from './connection-caps.js';

const CONNECT_TIMEOUT_MS = 10_000;
/** A connection that has not finished its TLS handshake by then is dropped. */
const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

/** Channels a peer may open per session kind: a migration's stream and one per disk, replication's data and control. */
const PEER_CHANNELS = { migration: 1 + MAX_DISKS, replication: 2, probe: 1 } as const;

function adapt(s: WireSession): DataSession {
  s.closed.catch(() => undefined);
  return {
    channel: (n) => s.channel(n),
    wireBytes: () => s.stats.wireBytesIn + s.stats.wireBytesOut,
    close: () => void s.close().catch(() => undefined),
    destroy: (err) => s.destroy(err),
    closed: s.closed,
  };
}

/** Wire failures become API errors with the wire code in the message. */
function asFerryError(err: unknown, what: string): FerryError {
  if (err instanceof FerryError) return err;
  const code = err instanceof WireError && err.code === 'WIRE_TIMEOUT' ? 'TIMEOUT' : 'HOST_DOWN';
  const wire = err instanceof WireError ? `${err.code}: ` : '';
  return new FerryError(code, `${what}: ${wire}${(err as Error).message}`, { cause: err });
}

export class WirePlane implements DataPlane {
  readonly enforcesBandwidth = true;
  #identity: TlsIdentity | undefined;
  #server: Server | undefined;
  #url: string | undefined;
  #closed = false;
  readonly #sockets = new Set<TLSSocket>();
  readonly #expected = new Map<string, { peer: string; onSession: (s: DataSession) => void; opts: ExpectOptions }>();

  readonly #caps: ConnectionCaps;

  /** `advertise`: the host peers dial (default `host`, the listen address). */
  constructor(readonly host: string, readonly port: number, limits: ConnectionLimits = DEFAULT_CONNECTION_LIMITS, readonly advertise = host) {
    this.#caps = new ConnectionCaps(limits);
  }

  url(): string | undefined {
    return this.#url;
  }

  tlsIdentity(): TlsIdentity | undefined {
    return this.#identity;
  }

  /** Installs the host's key and certificates and starts listening (or renews the context). */
  async setIdentity(id: TlsIdentity): Promise<void> {
    this.#identity = id;
    if (this.#server) return this.#server.setSecureContext(tlsOptions(id).server);
    if (this.#closed) return;
    const server = createServer({ ...tlsOptions(id).server, handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS }, (sock) => this.#onConnection(sock));
    server.maxConnections = this.#caps.limits.total;
    server.on('tlsClientError', () => undefined);
    this.#server = server;
    server.listen(this.port, this.host);
    await once(server, 'listening');
    const addr = server.address();
    const shown = this.advertise;
    if (typeof addr === 'object' && addr) this.#url = `ferry-wire://${shown.includes(':') && !shown.startsWith('[') ? `[${shown}]` : shown}:${addr.port}`;
    log('data endpoint listening on %s', this.#url);
  }

  #track(sock: TLSSocket): void {
    this.#sockets.add(sock);
    sock.once('close', () => this.#sockets.delete(sock));
    sock.on('error', () => undefined);
  }

  #onConnection(sock: TLSSocket): void {
    this.#track(sock);
    let peer: string;
    try {
      peer = peerHostName(sock);
    } catch {
      return void sock.destroy();
    }
    const release = this.#caps.admit(peer);
    if (release) sock.once('close', release);
    let onSession: ((s: DataSession) => void) | undefined;
    acceptSession(sock, (hello) => {
      if (!release) throw new WireError('WIRE_LIMIT', `${peer} already has ${this.#caps.limits.perPeer} data connections to this host`);
      const mode = hello.mode ?? 'passthrough';
      const peerChannels = PEER_CHANNELS[hello.kind];
      if (hello.kind === 'probe') return { mode, peerChannels };
      if (hello.kind !== 'migration' && hello.kind !== 'replication') throw new FerryError('INVALID_REQUEST', `this endpoint takes no ${hello.kind} sessions`);
      const exp = this.#expected.get(hello.sessionId);
      if (!exp || (exp.opts.kind ?? 'migration') !== hello.kind) throw new FerryError('NOT_FOUND', `no ${hello.kind} ${hello.sessionId} is expected here`);
      if (exp.peer !== peer) throw new FerryError('UNAUTHORIZED', `${hello.kind} ${hello.sessionId} is expected from ${exp.peer}, not ${peer}`);
      this.#expected.delete(hello.sessionId);
      onSession = exp.onSession;
      if (hello.kind === 'replication') return { mode: 'chunked', peerChannels, ...(exp.opts.store ? { store: exp.opts.store } : {}) };
      return { mode, peerChannels };
    }).then((s) => onSession?.(adapt(s)), (err: Error) => log('data endpoint: session from %s refused: %s', peer, err.message));
  }

  async #dial(url: string, peerHost: string, signal?: AbortSignal): Promise<TLSSocket> {
    if (!this.#identity) throw new FerryError('INVALID_STATE', 'this host has no data-plane certificate yet');
    const { host, port } = parseDataUrl(url);
    const sock = connect({ host, port, ...tlsOptions(this.#identity).client(peerHost), ...(signal ? { signal } : {}) });
    this.#track(sock);
    const timer = setTimeout(() => sock.destroy(new Error(`no TLS handshake within ${CONNECT_TIMEOUT_MS} ms`)), CONNECT_TIMEOUT_MS);
    try {
      await once(sock, 'secureConnect');
    } catch (err) {
      throw asFerryError(err, `cannot reach ${peerHost}'s data endpoint ${url}`);
    } finally {
      clearTimeout(timer);
    }
    return sock;
  }

  async connect(url: string, peerHost: string, hello: SessionHello, opts: ConnectOptions): Promise<DataSession> {
    const sock = await this.#dial(url, peerHost, opts.signal);
    try {
      const s = await openSession(sock, { kind: hello.kind, sessionId: hello.sessionId, meta: { sourceHost: hello.sourceHost } }, {
        mode: opts.mode, peerChannels: PEER_CHANNELS[hello.kind], ...(opts.bandwidthBytesPerSec ? { bandwidthBytesPerSec: opts.bandwidthBytesPerSec } : {}), ...(opts.signal ? { signal: opts.signal } : {}),
      });
      return adapt(s);
    } catch (err) {
      sock.destroy();
      throw asFerryError(err, `session with ${peerHost}`);
    }
  }

  expect(sessionId: string, peerHost: string, onSession: (s: DataSession) => void, opts: ExpectOptions = {}): void {
    this.#expected.set(sessionId, { peer: peerHost, onSession, opts });
  }

  unexpect(sessionId: string): void {
    this.#expected.delete(sessionId);
  }

  async measure(url: string, peerHost: string, opts: { bytes: number; signal?: AbortSignal }): Promise<{ bytesPerSec: number; rttMs: number }> {
    const sock = await this.#dial(url, peerHost, opts.signal);
    try {
      const s = await openSession(sock, { kind: 'probe', sessionId: `probe-${Date.now()}` }, { mode: 'passthrough', peerChannels: PEER_CHANNELS.probe, ...(opts.signal ? { signal: opts.signal } : {}) });
      s.closed.catch(() => undefined);
      const r = await measureLink(s, opts);
      await s.close().catch(() => undefined);
      return r;
    } catch (err) {
      throw asFerryError(err, `measuring the link to ${peerHost}`);
    } finally {
      sock.destroy();
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const s of this.#sockets) s.destroy();
    const server = this.#server;
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }
}
