// A bounded ring of rows (see shape.ts), oldest first, in one Float64Array: pushing onto a full
// ring drops the oldest row, and rows older than the retention are dropped as new ones come,
// so a series never holds more than `capacity` rows whatever the agents send. The array starts
// small and doubles up to the capacity, so a young series costs little.
import { T } from './shape.js';

const INITIAL_ROWS = 64;

export class Ring {
  private data: Float64Array;
  private rows: number; // rows allocated (<= capacity)
  private head = 0; // index of the oldest row
  private len = 0;

  constructor(
    readonly capacity: number,
    readonly width: number,
  ) {
    this.rows = Math.min(capacity, INITIAL_ROWS);
    this.data = new Float64Array(this.rows * width);
  }

  get length(): number {
    return this.len;
  }

  /** Appends a row (rows come in time order); drops rows older than `keepMs` before its time. */
  push(row: ArrayLike<number>, keepMs: number): void {
    if (this.len === this.rows) {
      if (this.rows < this.capacity) this.grow();
      else this.shift();
    }
    this.data.set(row, ((this.head + this.len) % this.rows) * this.width);
    this.len++;
    const oldest = row[T]! - keepMs;
    while (this.len > 0 && this.at(0)[T]! < oldest) this.shift();
  }

  /** The i-th row from the oldest (a view: copy it to keep it). */
  at(i: number): Float64Array {
    const start = ((this.head + i) % this.rows) * this.width;
    return this.data.subarray(start, start + this.width);
  }

  last(): Float64Array | undefined {
    return this.len > 0 ? this.at(this.len - 1) : undefined;
  }

  /** Rows with from <= t < to, oldest first (copies). */
  range(from: number, to: number): Float64Array[] {
    const out: Float64Array[] = [];
    for (let i = 0; i < this.len; i++) {
      const row = this.at(i);
      if (row[T]! >= from && row[T]! < to) out.push(row.slice());
    }
    return out;
  }

  /** Bytes held, whether used or not. */
  get bytes(): number {
    return this.data.byteLength;
  }

  private shift(): void {
    this.head = (this.head + 1) % this.rows;
    this.len--;
  }

  /** Doubles the allocation (up to the capacity), oldest row first again. */
  private grow(): void {
    const rows = Math.min(this.capacity, this.rows * 2);
    const data = new Float64Array(rows * this.width);
    for (let i = 0; i < this.len; i++) data.set(this.at(i), i * this.width);
    this.data = data;
    this.rows = rows;
    this.head = 0;
  }
}
