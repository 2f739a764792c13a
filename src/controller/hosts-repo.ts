// SQL for the `hosts` table. A host is what its agent last reported (HostInfo) plus the
// controller's view of it: up or down, and when it was last heard from.
import type { HostInfo } from '../contracts/agent-api.js';
import type { HostState } from '../contracts/controller-api.js';
import type { Db } from './db.js';

export interface HostRecord {
  info: HostInfo;
  state: HostState;
  lastSeen: string;
  registeredAt: string;
}

interface Row {
  name: string;
  state: string;
  info: string;
  last_seen: string;
  registered_at: string;
}

function fromRow(r: Row): HostRecord {
  return { info: JSON.parse(r.info) as HostInfo, state: r.state as HostState, lastSeen: r.last_seen, registeredAt: r.registered_at };
}

export class HostsRepo {
  private readonly q;
  constructor(db: Db) {
    this.q = {
      upsert: db.prepare(
        `INSERT INTO hosts (name, site, state, url, info, last_seen, registered_at)
         VALUES (@name, @site, @state, @url, @info, @lastSeen, @registeredAt)
         ON CONFLICT(name) DO UPDATE SET site = @site, state = @state, url = @url, info = @info, last_seen = @lastSeen`,
      ),
      get: db.prepare<[string], Row>('SELECT * FROM hosts WHERE name = ?'),
      list: db.prepare<[], Row>('SELECT * FROM hosts ORDER BY name'),
      setState: db.prepare<[string, string]>('UPDATE hosts SET state = ? WHERE name = ?'),
      getCert: db.prepare<[string], { csr: string | null; certificate: string | null }>('SELECT csr, certificate FROM hosts WHERE name = ?'),
      setCert: db.prepare<[string, string, string]>('UPDATE hosts SET csr = ?, certificate = ? WHERE name = ?'),
      remove: db.prepare<[string]>('DELETE FROM hosts WHERE name = ?'),
    };
  }

  upsert(rec: HostRecord): void {
    const { info } = rec;
    this.q.upsert.run({
      name: info.name,
      site: info.site,
      state: rec.state,
      url: info.url,
      info: JSON.stringify(info),
      lastSeen: rec.lastSeen,
      registeredAt: rec.registeredAt,
    });
  }

  get(name: string): HostRecord | undefined {
    const row = this.q.get.get(name);
    return row ? fromRow(row) : undefined;
  }

  list(): HostRecord[] {
    return this.q.list.all().map(fromRow);
  }

  /** Forgets the host (ferry host remove); true if it was known. */
  remove(name: string): boolean {
    return this.q.remove.run(name).changes === 1;
  }

  setState(name: string, state: HostState): void {
    this.q.setState.run(state, name);
  }

  /** The host's data-plane certificate and the CSR it was issued for. */
  certificate(name: string): { csr: string; certificate: string } | undefined {
    const row = this.q.getCert.get(name);
    return row?.csr && row.certificate ? { csr: row.csr, certificate: row.certificate } : undefined;
  }

  setCertificate(name: string, csr: string, certificate: string): void {
    this.q.setCert.run(csr, certificate, name);
  }
}
