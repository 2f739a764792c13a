// The cluster PKI in tests: a CA (in memory, in a controller's data dir, or whatever loader a
// test gives), host and controller identities signed by it, clients that present them, and
// the CA trusted by the process's global fetch (tests' plain `fetch` and `call` reach an HTTPS
// controller with the CA pinned, presenting no certificate, as an API user or a browser does).
import { Agent, setGlobalDispatcher, type Dispatcher } from 'undici';
import type { TlsIdentity } from '../agent/data-plane/tls-identity.js';
import { ApiClient } from '../contracts/http-client.js';
import { storeCa } from '../controller/ca.js';
import { openPool } from '../controller/store/pg-pool.js';
import { loadOrCreateSharedCa } from '../controller/store/shared-ca.js';
import { createCa, httpsDispatcher, issueIdentity, type CertRole, type KeyAndCert } from '../pki/index.js';

const trusted = new Set<string>();

/** Trust `caPem` in this process's global fetch (tests only: every CA a test made). */
export function trustCa(caPem: string): void {
  if (trusted.has(caPem)) return;
  trusted.add(caPem);
  // Tests dial 127.0.0.1 and more; the CA pinned is what matters here, not the address.
  setGlobalDispatcher(new Agent({ connect: { ca: [...trusted], checkServerIdentity: () => undefined } }));
}

export class TestPki {
  #ca: Promise<KeyAndCert> | undefined;
  readonly #ids = new Map<string, Promise<TlsIdentity>>();
  readonly #dispatchers = new Map<string, Dispatcher>();

  /** `load`: where the CA comes from (e.g. `() => loadOrCreateCa(dir)`, the one a controller on `dir` uses). */
  constructor(private readonly load: () => Promise<KeyAndCert> = () => createCa('ferry test CA')) {}

  /** The CA controllers sharing this PostgreSQL use (made there if none is yet). */
  static forPostgres(url: string): TestPki {
    return new TestPki(async () => {
      const pool = await openPool(url);
      try {
        return await loadOrCreateSharedCa(pool);
      } finally {
        await pool.end();
      }
    });
  }

  ca(): Promise<KeyAndCert> {
    return (this.#ca ??= this.load().then((ca) => {
      trustCa(ca.certPem);
      return ca;
    }));
  }

  /** The identity of `name` (one per name and role, made once). */
  identity(name: string, role: CertRole = 'host'): Promise<TlsIdentity> {
    const key = `${role}:${name}`;
    let id = this.#ids.get(key);
    if (!id) {
      id = this.ca().then(async (ca) => ({ ...(await issueIdentity(ca, name, { role })), caPem: ca.certPem }));
      this.#ids.set(key, id);
    }
    return id;
  }

  /** A client of host `name`'s agent API, as the controller (its certificate, the host's required). */
  async agentClient(url: string, name: string): Promise<ApiClient> {
    const d = await this.dispatcher('controller', 'ferry-controller', { role: 'host', name });
    return new ApiClient(url, '', { dispatcher: () => d });
  }

  /** A dispatcher presenting `name`'s certificate of `role` to a server of `expect`. */
  async dispatcher(role: CertRole, name: string, expect: { role: CertRole; name?: string }): Promise<Dispatcher> {
    const key = `${role}:${name}>${expect.role}:${expect.name ?? ''}`;
    let d = this.#dispatchers.get(key);
    if (!d) this.#dispatchers.set(key, (d = httpsDispatcher(await this.identity(name, role), expect)));
    return d;
  }

  /** Gives a controller on `dataDir` this CA (where it looks first: <dataDir>/ca). */
  async seed(dataDir: string): Promise<void> {
    storeCa(dataDir, await this.ca());
  }

  /** Gives controllers on this PostgreSQL this CA (where they look first: ferry_ca). */
  async seedPostgres(url: string): Promise<void> {
    const ca = await this.ca();
    const pool = await openPool(url);
    try {
      await pool.query('INSERT INTO ferry_ca (id, key_pem, cert_pem) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING', [ca.keyPem, ca.certPem]);
    } finally {
      await pool.end();
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.#dispatchers.values()].map((d) => d.close().catch(() => undefined)));
    this.#dispatchers.clear();
  }
}
