// The controller's side of the control plane's mutual TLS: its own certificate (role
// `controller`, issued from the cluster CA it holds, short-lived and re-issued in place), the
// HTTPS server options (a client certificate is asked for: agents present theirs on /internal;
// API users and browsers present none and use the admin token), and one fetch dispatcher per
// host that presents the controller's certificate and accepts only that host's.
import type { Dispatcher } from 'undici';
import { httpsDispatcher, httpsServerOptions, httpsServerOptionsWithPublicCert, issueIdentity, type KeyAndCert, type ServerTlsOptions, type TlsMaterial } from '../pki/index.js';
import { createLog } from './log.js';

const log = createLog('ferry:controller:tls');

/** The CN of every controller's certificate (the role, OU=controller, is what agents check). */
export const CONTROLLER_CERT_NAME = 'ferry-controller';
const LIFETIME_MS = 7 * 24 * 3_600_000;

export class ControllerTls {
  #identity: TlsMaterial;
  #generation = 0;
  readonly #dispatchers = new Map<string, { generation: number; dispatcher: Dispatcher }>();
  #timer: NodeJS.Timeout | undefined;

  private constructor(
    readonly ca: KeyAndCert,
    identity: KeyAndCert,
    private readonly lifetimeMs: number,
    private readonly publicCert?: { keyPem: string; certPem: string },
  ) {
    this.#identity = { ...identity, caPem: ca.certPem };
  }

  /** `publicCert`: the operator's certificate for browsers (the cluster's goes to clients that ask for it by name). */
  static async open(ca: KeyAndCert, publicCert?: { keyPem: string; certPem: string }, lifetimeMs = LIFETIME_MS): Promise<ControllerTls> {
    return new ControllerTls(ca, await issueIdentity(ca, CONTROLLER_CERT_NAME, { role: 'controller', lifetimeMs }), lifetimeMs, publicCert);
  }

  get identity(): TlsMaterial {
    return this.#identity;
  }

  serverOptions(): ServerTlsOptions {
    return this.publicCert ? httpsServerOptionsWithPublicCert(this.#identity, this.publicCert, CONTROLLER_CERT_NAME) : httpsServerOptions(this.#identity, false);
  }

  /** For calls to host `name`: our certificate presented, the cluster CA pinned, the server must be host `name`. */
  dispatcherFor(name: string): Dispatcher {
    const known = this.#dispatchers.get(name);
    if (known && known.generation === this.#generation) return known.dispatcher;
    if (known) void known.dispatcher.close().catch(() => undefined);
    const dispatcher = httpsDispatcher(this.#identity, { role: 'host', name });
    this.#dispatchers.set(name, { generation: this.#generation, dispatcher });
    return dispatcher;
  }

  /** Re-issues our certificate every quarter of its lifetime; `renewed` installs it on the server. */
  startRenewal(renewed: (options: ServerTlsOptions) => void): void {
    this.#timer ??= setInterval(() => {
      void issueIdentity(this.ca, CONTROLLER_CERT_NAME, { role: 'controller', lifetimeMs: this.lifetimeMs }).then(
        (id) => {
          this.#identity = { ...id, caPem: this.ca.certPem };
          this.#generation++;
          renewed(this.serverOptions());
        },
        (err: unknown) => log('could not renew the controller certificate: %s', (err as Error).message),
      );
    }, Math.max(60_000, this.lifetimeMs / 4));
    this.#timer.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await Promise.all([...this.#dispatchers.values()].map((d) => d.dispatcher.close().catch(() => undefined)));
    this.#dispatchers.clear();
  }
}
