// The guards' own network: each guard answers POST /fence/v1/ping from its peers and pings
// every peer itself. A ping that gets through, either way, is a contact: proof that these two
// hosts can still reach each other. The cluster secret authenticates both directions.
// A peer whose guard does not answer but whose host completes a TCP connection to the guard's
// port (`reachable`) is not cut off either: its kernel answers, only its guard is stopped or
// hung (a frozen process's listening socket still completes handshakes). Such a host cannot
// promise to fence, and nothing may start its VMs elsewhere, so that counts as a contact too.
// A refused connection does not count (the loopback emulation of a cut below refuses).
// A test hook (`cut`) makes the link look cut: the guard stops listening (connections are
// refused), inbound pings are dropped unanswered and outbound ones fail, as if the host's cable
// were pulled (see files.ts, fault-link-down).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { once } from 'node:events';
import { timingSafeEqual } from 'node:crypto';
import { Value } from '@sinclair/typebox/value';
import { ApiClient, GuardPing, HTTP_LIMITS, type GuardPingReply, type GuardSelf } from '../../contracts/index.js';

export const PING_PATH = '/fence/v1/ping';
const MAX_BODY = 64 * 1024;

export interface PeerLinkOptions {
  host: string;
  secret: string;
  listenHost: string;
  port?: number;
  /** A ping arrived from `from`. */
  onPing(from: string, self: GuardSelf): void;
  /** True while the test hook cuts this host's link. */
  cut(): boolean;
}

export class PeerLink {
  #server: Server | undefined;
  #url = '';
  #port: number | undefined;
  /** The hook's cut as last applied: the server is closed while it holds. */
  #cutApplied = false;
  readonly #inflight = new Map<string, AbortController>();

  constructor(private readonly o: PeerLinkOptions) {}

  get url(): string {
    return this.#url;
  }

  async listen(): Promise<string> {
    await this.#open(this.o.port ?? 0);
    return this.#url;
  }

  async #open(port: number): Promise<void> {
    // A peer that gives up mid-request (its ping timed out) must not take the guard down.
    // A peer that trickles its request is dropped like at the API servers (HTTP_LIMITS).
    const { headersTimeoutMs, requestTimeoutMs, maxConnections } = HTTP_LIMITS;
    const server = createServer({ headersTimeout: headersTimeoutMs, requestTimeout: requestTimeoutMs }, (req, res) => void this.#serve(req, res).catch(() => req.socket.destroy()));
    server.keepAliveTimeout = 5_000;
    server.maxConnections = maxConnections;
    server.listen(port, this.o.listenHost);
    await once(server, 'listening');
    this.#server = server;
    this.#port = (server.address() as { port: number }).port;
    this.#url = `http://${this.o.listenHost.includes(':') ? `[${this.o.listenHost}]` : this.o.listenHost}:${this.#port}`;
  }

  /** Test hook: stop listening while the link is cut, listen again (same port) once it is not. */
  async applyCut(cut: boolean): Promise<void> {
    if (cut === this.#cutApplied || this.#port === undefined) return;
    this.#cutApplied = cut;
    if (cut) await this.#shut();
    else await this.#open(this.#port);
  }

  /** True if a TCP connection to the peer guard's port completes within `timeoutMs` (see the header). */
  reachable(url: string, timeoutMs: number): Promise<boolean> {
    if (this.o.cut()) return Promise.resolve(false);
    const u = new URL(url);
    return new Promise((resolve) => {
      const sock = connect({ host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port), timeout: timeoutMs });
      const end = (ok: boolean): void => {
        sock.destroy();
        resolve(ok);
      };
      sock.once('connect', () => end(true));
      sock.once('timeout', () => end(false));
      sock.once('error', () => end(false));
    });
  }

  /** Pings `url` unless a ping to that peer is still on its way; true if it got through. */
  async ping(peer: string, url: string, self: GuardSelf, timeoutMs: number): Promise<boolean> {
    if (this.#inflight.has(peer)) return false;
    const abort = new AbortController();
    this.#inflight.set(peer, abort);
    try {
      if (this.o.cut()) return false;
      const reply = await new ApiClient(url, this.o.secret).post<GuardPingReply>(PING_PATH, { from: this.o.host, self } satisfies GuardPing, { timeoutMs, signal: abort.signal });
      return reply?.host === peer && !this.o.cut();
    } catch {
      return false;
    } finally {
      this.#inflight.delete(peer);
    }
  }

  async close(): Promise<void> {
    for (const a of this.#inflight.values()) a.abort();
    this.#port = undefined;
    await this.#shut();
  }

  async #shut(): Promise<void> {
    const s = this.#server;
    this.#server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.o.cut()) return void req.socket.destroy();
    if (req.method !== 'POST' || req.url !== PING_PATH) return void res.writeHead(404).end();
    if (!this.#authorized(req.headers.authorization)) return void res.writeHead(401).end();
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size > MAX_BODY) return void res.writeHead(413).end();
      chunks.push(c as Buffer);
    }
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return void res.writeHead(400).end();
    }
    if (!Value.Check(GuardPing, body)) return void res.writeHead(400).end();
    this.o.onPing(body.from, body.self);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ host: this.o.host } satisfies GuardPingReply));
  }

  #authorized(header: string | undefined): boolean {
    const want = Buffer.from(`Bearer ${this.o.secret}`);
    const got = Buffer.from(header ?? '');
    return got.length === want.length && timingSafeEqual(got, want);
  }
}
