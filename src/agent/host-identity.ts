// The host's identity while the agent runs: the key it joined with, its current certificate and
// the cluster CA it pinned at join (never one a controller's reply carries). Renewal: once two
// thirds of the certificate's lifetime have passed, heartbeats carry a CSR for the same key
// until the controller answers with a certificate, which is taken only if it is for this host,
// this key, and chains to the pinned CA. Listeners (the API server, the data plane) get the new
// identity.
import { X509Certificate } from 'node:crypto';
import { certInfo, csrForKey, httpsDispatcher, type ServerExpectation } from '../pki/index.js';
import type { Dispatcher } from 'undici';
import { storeCertificate, type TlsIdentity } from './data-plane/tls-identity.js';
import { log } from './log.js';

const RENEW_AT_FRACTION = 2 / 3;

export class HostIdentity {
  #id: TlsIdentity;
  #csr: string | undefined;
  readonly #keySha256: string;
  readonly #listeners: ((id: TlsIdentity) => void | Promise<void>)[] = [];
  readonly #dispatchers = new Map<string, Dispatcher>();

  constructor(
    readonly name: string,
    id: TlsIdentity,
    /** Where a renewed certificate is kept; omitted: nowhere (tests). */
    private readonly dataDir?: string,
  ) {
    this.#id = id;
    this.#keySha256 = certInfo(id.certPem).keySha256;
  }

  get current(): TlsIdentity {
    return this.#id;
  }

  onChange(fn: (id: TlsIdentity) => void | Promise<void>): void {
    this.#listeners.push(fn);
  }

  /** A dispatcher presenting this host's certificate to a server of the expected role (made again after a renewal). */
  dispatcher(expect: ServerExpectation): Dispatcher {
    const key = `${expect.role} ${expect.name ?? ''}`;
    let d = this.#dispatchers.get(key);
    if (!d) this.#dispatchers.set(key, (d = httpsDispatcher(this.#id, expect)));
    return d;
  }

  /** A CSR for our key once the certificate is due for renewal; the same one until it is answered. */
  async renewalCsr(now = Date.now()): Promise<string | undefined> {
    const { notBefore, notAfter } = certInfo(this.#id.certPem);
    const due = notBefore.getTime() + (notAfter.getTime() - notBefore.getTime()) * RENEW_AT_FRACTION;
    if (now < due) return undefined;
    this.#csr ??= await csrForKey(this.#id.keyPem, this.name);
    return this.#csr;
  }

  /** A certificate from a heartbeat reply: taken only if it is for us, our key, and from our CA. */
  async accept(certPem: string): Promise<boolean> {
    if (certPem === this.#id.certPem) return false;
    let info;
    try {
      info = certInfo(certPem);
      const ok = new X509Certificate(certPem).verify(new X509Certificate(this.#id.caPem).publicKey);
      if (!ok) throw new Error('not signed by the pinned cluster CA');
      if (info.commonName !== this.name || info.role !== 'host') throw new Error(`issued to ${String(info.commonName)} (${String(info.role)})`);
      if (info.keySha256 !== this.#keySha256) throw new Error('for another key');
    } catch (err) {
      log('a certificate from the controller was refused: %s', (err as Error).message);
      return false;
    }
    if (info.notAfter.getTime() < certInfo(this.#id.certPem).notAfter.getTime()) return false; // never an older one
    this.#id = { ...this.#id, certPem };
    this.#csr = undefined;
    if (this.dataDir) storeCertificate(this.dataDir, certPem);
    const old = [...this.#dispatchers.values()];
    this.#dispatchers.clear();
    // In-flight requests finish on the old connections.
    setTimeout(() => old.forEach((d) => void d.close().catch(() => undefined)), 30_000).unref();
    for (const fn of this.#listeners) await fn(this.#id);
    log('renewed this host\'s certificate (until %s)', info.notAfter.toISOString());
    return true;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#dispatchers.values()].map((d) => d.close().catch(() => undefined)));
    this.#dispatchers.clear();
  }
}
