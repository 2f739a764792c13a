// The image catalogue: one row per library image, its record as JSON (ImageRecord without
// `usedBy`, which is read from the VMs).
import type { ImageRecord } from '../../contracts/images.js';
import type { Db } from '../db.js';

export type StoredImage = Omit<ImageRecord, 'usedBy'>;

export class ImagesRepo {
  constructor(private readonly db: Db) {}

  list(): StoredImage[] {
    return (this.db.prepare('SELECT record FROM images ORDER BY name').pluck().all() as string[]).map((r) => JSON.parse(r) as StoredImage);
  }

  get(name: string): StoredImage | undefined {
    const r = this.db.prepare('SELECT record FROM images WHERE name = ?').pluck().get(name) as string | undefined;
    return r === undefined ? undefined : (JSON.parse(r) as StoredImage);
  }

  put(img: StoredImage): void {
    this.db.prepare('INSERT INTO images (name, record) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET record = excluded.record').run(img.name, JSON.stringify(img));
  }

  delete(name: string): void {
    this.db.prepare('DELETE FROM images WHERE name = ?').run(name);
  }
}
