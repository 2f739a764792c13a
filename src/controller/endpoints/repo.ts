// The exposures: which guest port of which VM has a service endpoint, on which loopback port.
import type { Db } from '../db.js';

export interface Exposure {
  vm: string;
  guestPort: number;
  listenPort: number;
  createdAt: string;
}

interface Row {
  vm: string;
  guest_port: number;
  listen_port: number;
  created_at: string;
}

const fromRow = (r: Row): Exposure => ({ vm: r.vm, guestPort: r.guest_port, listenPort: r.listen_port, createdAt: r.created_at });

export class ExposuresRepo {
  constructor(private readonly db: Db) {}

  list(vm?: string): Exposure[] {
    const rows = vm === undefined
      ? (this.db.prepare('SELECT * FROM exposures ORDER BY vm, guest_port').all() as Row[])
      : (this.db.prepare('SELECT * FROM exposures WHERE vm = ? ORDER BY guest_port').all(vm) as Row[]);
    return rows.map(fromRow);
  }

  get(vm: string, guestPort: number): Exposure | undefined {
    const r = this.db.prepare('SELECT * FROM exposures WHERE vm = ? AND guest_port = ?').get(vm, guestPort) as Row | undefined;
    return r ? fromRow(r) : undefined;
  }

  insert(e: Exposure): void {
    this.db.prepare('INSERT INTO exposures (vm, guest_port, listen_port, created_at) VALUES (?, ?, ?, ?)').run(e.vm, e.guestPort, e.listenPort, e.createdAt);
  }

  remove(vm: string, guestPort?: number): number {
    const r = guestPort === undefined
      ? this.db.prepare('DELETE FROM exposures WHERE vm = ?').run(vm)
      : this.db.prepare('DELETE FROM exposures WHERE vm = ? AND guest_port = ?').run(vm, guestPort);
    return r.changes;
  }
}
