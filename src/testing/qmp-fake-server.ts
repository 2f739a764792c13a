// A scripted QMP server on a temporary Unix socket, for the client's unit tests.
// Each accepted connection gets the greeting and an automatic reply to qmp_capabilities;
// the test then reads commands with next() and writes whatever it likes with send().
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QmpParser, type QmpMessage } from '../qmp/parser.js';

export const FAKE_GREETING = {
  QMP: { version: { qemu: { micro: 2, minor: 0, major: 10 }, package: 'fake' }, capabilities: ['oob'] },
};

export interface FakeServerOptions {
  /** false: send no greeting; a string: send these raw bytes instead. */
  greeting?: false | string;
  /** Reply to qmp_capabilities automatically (default true). */
  autoCapabilities?: boolean;
}

export class FakeConnection {
  readonly #queue: QmpMessage[] = [];
  readonly #waiting: Array<(m: QmpMessage) => void> = [];
  readonly closed: Promise<void>;

  constructor(
    readonly socket: Socket,
    opts: FakeServerOptions,
  ) {
    this.closed = new Promise((resolve) => socket.on('close', () => resolve()));
    socket.on('error', () => {});
    const parser = new QmpParser((msg) => {
      if (msg.execute === 'qmp_capabilities' && opts.autoCapabilities !== false) {
        this.send({ return: {}, id: msg.id });
        return;
      }
      const waiter = this.#waiting.shift();
      if (waiter) waiter(msg);
      else this.#queue.push(msg);
    });
    socket.on('data', (chunk: Buffer) => parser.push(chunk));
    if (typeof opts.greeting === 'string') socket.write(opts.greeting);
    else if (opts.greeting !== false) this.send(FAKE_GREETING);
  }

  /** The next command the client sent (other than the automatic qmp_capabilities). */
  next(): Promise<QmpMessage> {
    const queued = this.#queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  send(msg: unknown): void {
    this.socket.write(typeof msg === 'string' ? msg : `${JSON.stringify(msg)}\r\n`);
  }

  event(event: string, data?: Record<string, unknown>): void {
    this.send({ event, data, timestamp: { seconds: 1, microseconds: 0 } });
  }
}

export class FakeQmpServer {
  readonly #dir: string;
  readonly #server: Server;
  readonly #connections: FakeConnection[] = [];
  readonly #all: FakeConnection[] = [];
  readonly #waiting: Array<(c: FakeConnection) => void> = [];
  readonly path: string;

  private constructor(opts: FakeServerOptions) {
    this.#dir = mkdtempSync(join(tmpdir(), 'ferry-qmp-test-'));
    this.path = join(this.#dir, 'qmp.sock');
    this.#server = createServer((socket) => {
      const conn = new FakeConnection(socket, opts);
      this.#all.push(conn);
      const waiter = this.#waiting.shift();
      if (waiter) waiter(conn);
      else this.#connections.push(conn);
    });
  }

  static async start(opts: FakeServerOptions = {}): Promise<FakeQmpServer> {
    const server = new FakeQmpServer(opts);
    await new Promise<void>((resolve, reject) => {
      server.#server.once('error', reject);
      server.#server.listen(server.path, () => resolve());
    });
    return server;
  }

  connection(): Promise<FakeConnection> {
    const conn = this.#connections.shift();
    if (conn) return Promise.resolve(conn);
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  async close(): Promise<void> {
    for (const c of this.#all) c.socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    rmSync(this.#dir, { recursive: true, force: true });
  }
}
