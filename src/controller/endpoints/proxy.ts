// One service endpoint: a TCP listener on loopback whose every new client connection is piped
// to the VM's current location, as `route` decides at that moment (gate.ts). Connections that
// cannot go anywhere yet are held (bounded, with a deadline) and dispatched again on `wake`.
// A connection already piped keeps its backend until it closes: user-mode networking cannot
// carry a TCP connection to another QEMU, so after a move only new connections go to the new place.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { pipeline } from 'node:stream';
import { createLog } from '../log.js';
import { HoldQueue, type Route } from './gate.js';

const log = createLog('ferry:controller:endpoints');

export const ENDPOINT_LIMITS = {
  /** Client connections open at once per endpoint (piped and held). */
  maxConnections: 256,
  /** Of those, held waiting for a location. */
  maxHeld: 128,
  /** How long a client connection is held at most before it is closed. */
  holdMs: 10_000,
  /** A backend that refused the connection (its QEMU just went away) is tried again after this. */
  retryMs: 100,
  /** Limit on connecting to a backend. */
  connectTimeoutMs: 3000,
};
export type EndpointLimits = typeof ENDPOINT_LIMITS;
Object.freeze(ENDPOINT_LIMITS);

export interface ListenerOptions {
  name: string;
  /** 0: any free port. */
  port: number;
  route: () => Route;
  limits?: Partial<EndpointLimits>;
  /** The address to listen on (default 127.0.0.1). */
  host?: string;
}

export class EndpointListener {
  private readonly server: Server;
  private readonly clients = new Set<Socket>();
  private readonly deadlines = new WeakMap<Socket, number>();
  private readonly held: HoldQueue<Socket>;
  private readonly limits: EndpointLimits;
  private piped = 0;
  private closing: Promise<void> | undefined;

  constructor(private readonly opts: ListenerOptions) {
    this.limits = { ...ENDPOINT_LIMITS, ...opts.limits };
    this.held = new HoldQueue<Socket>(this.limits.maxHeld, this.limits.holdMs, (s) => {
      log('%s: no location within %d ms; closing a held connection', opts.name, this.limits.holdMs);
      s.destroy();
    });
    // Half-open allowed on both sides: a client that ends its request still gets the answer.
    this.server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (s) => this.accept(s));
    this.server.maxConnections = this.limits.maxConnections;
  }

  /** Listens on its host (127.0.0.1 by default); resolves with the port. */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port, this.opts.host ?? '127.0.0.1', () => {
        this.server.off('error', reject);
        const a = this.server.address();
        resolve(typeof a === 'object' && a ? a.port : this.opts.port);
      });
    });
  }

  get connections(): number {
    return this.piped;
  }

  get heldCount(): number {
    return this.held.size;
  }

  /** The location may have changed: dispatch every held connection again. */
  wake(): void {
    for (const s of this.held.drain()) this.dispatch(s);
  }

  /** Stops listening and closes every client connection. Idempotent. */
  close(): Promise<void> {
    return (this.closing ??= new Promise<void>((resolve) => {
      this.held.drain();
      for (const s of this.clients) s.destroy();
      this.server.close(() => resolve());
    }));
  }

  private accept(client: Socket): void {
    if (this.closing) return void client.destroy();
    this.clients.add(client);
    this.deadlines.set(client, performance.now() + this.limits.holdMs);
    client.on('error', () => client.destroy());
    client.once('close', () => {
      this.clients.delete(client);
      this.held.drop(client);
    });
    this.dispatch(client);
  }

  private dispatch(client: Socket): void {
    if (client.destroyed || this.closing) return;
    const r = this.opts.route();
    const left = (this.deadlines.get(client) ?? 0) - performance.now();
    if (r.kind === 'refuse' || (r.kind === 'hold' && left <= 0)) {
      log('%s: closing a client connection: %s', this.opts.name, r.kind === 'refuse' ? r.why : 'held too long');
      return void client.destroy();
    }
    if (r.kind === 'hold') {
      if (!this.held.hold(client, left)) client.destroy();
      return;
    }
    this.pipeTo(client, r.host, r.port);
  }

  private pipeTo(client: Socket, host: string, port: number): void {
    const upstream = connect({ host, port, allowHalfOpen: true, timeout: this.limits.connectTimeoutMs });
    const failed = (): void => {
      upstream.destroy();
      // Nothing was sent yet: try again shortly (the route may have changed meanwhile).
      setTimeout(() => this.dispatch(client), this.limits.retryMs).unref();
    };
    upstream.once('timeout', failed);
    upstream.once('error', failed);
    upstream.once('connect', () => {
      upstream.off('timeout', failed).off('error', failed).setTimeout(0);
      if (client.destroyed) return void upstream.destroy();
      this.piped++;
      upstream.once('close', () => this.piped--);
      const done = (err?: Error | null): void => {
        if (!err) return;
        client.destroy();
        upstream.destroy();
      };
      pipeline(client, upstream, done);
      pipeline(upstream, client, done);
      client.resume();
    });
  }
}
