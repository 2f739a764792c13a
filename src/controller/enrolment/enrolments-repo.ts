// SQL for `enrolments`: the hosts that joined, each bound to its key. A host is its certificate
// only while its row is here and names that certificate's key; removing the row revokes it.
import type { Db } from '../db.js';

export interface Enrolment {
  name: string;
  keySha256: string;
  serial: string;
  notAfter: string;
  enrolledAt: string;
}

interface Row {
  name: string;
  key_sha256: string;
  serial: string;
  not_after: string;
  enrolled_at: string;
}

const fromRow = (r: Row): Enrolment => ({ name: r.name, keySha256: r.key_sha256, serial: r.serial, notAfter: r.not_after, enrolledAt: r.enrolled_at });

export class EnrolmentsRepo {
  private readonly q;
  constructor(db: Db) {
    this.q = {
      upsert: db.prepare(
        `INSERT INTO enrolments (name, key_sha256, serial, not_after, enrolled_at) VALUES (@name, @keySha256, @serial, @notAfter, @enrolledAt)
         ON CONFLICT(name) DO UPDATE SET key_sha256 = @keySha256, serial = @serial, not_after = @notAfter, enrolled_at = @enrolledAt`,
      ),
      get: db.prepare<[string], Row>('SELECT * FROM enrolments WHERE name = ?'),
      list: db.prepare<[], Row>('SELECT * FROM enrolments ORDER BY name'),
      renewed: db.prepare<[string, string, string]>('UPDATE enrolments SET serial = ?, not_after = ? WHERE name = ?'),
      remove: db.prepare<[string]>('DELETE FROM enrolments WHERE name = ?'),
    };
  }

  put(e: Enrolment): void {
    this.q.upsert.run(e);
  }

  get(name: string): Enrolment | undefined {
    const r = this.q.get.get(name);
    return r ? fromRow(r) : undefined;
  }

  list(): Enrolment[] {
    return this.q.list.all().map(fromRow);
  }

  renewed(name: string, serial: string, notAfter: string): void {
    this.q.renewed.run(serial, notAfter, name);
  }

  /** True if there was such a host. */
  remove(name: string): boolean {
    return this.q.remove.run(name).changes === 1;
  }
}
