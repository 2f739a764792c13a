// GET /api/v1/events: ClusterEvents as Server-Sent Events (`id:` = bus sequence number,
// `event:` = type, `data:` = the event as JSON). A comment line every 15 s keeps proxies from
// closing an idle stream. A client that stops reading is dropped once its unsent buffer passes
// MAX_BUFFERED_BYTES, rather than letting the controller's memory grow without bound. All
// cleanup (bus listener, timer, socket) happens in one idempotent function.
// Streams are capped per client (429: one client cannot hold every slot) and in total (503).
import type { ServerResponse } from 'node:http';
import { FerryError } from '../contracts/index.js';
import { clientKey } from './client-key.js';
import type { EventBus, BusMessage } from './events.js';
import { createLog } from './log.js';

const log = createLog('ferry:controller:sse');

export const KEEPALIVE_MS = 15_000;
export const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
/** Open streams one client (clientKey) may hold: a few console tabs and CLI watchers. */
export const MAX_STREAMS_PER_CLIENT = 8;
/** Open streams in total. */
export const MAX_STREAMS = 256;

export interface StreamLimits {
  perClient: number;
  total: number;
}

export function formatEvent(m: BusMessage): string {
  return `id: ${m.id}\nevent: ${m.event.type}\ndata: ${JSON.stringify(m.event)}\n\n`;
}

export class SseHub {
  private readonly clients = new Set<() => void>();
  private readonly perClient = new Map<string, number>();

  constructor(
    private readonly bus: EventBus,
    private readonly limits: StreamLimits = { perClient: MAX_STREAMS_PER_CLIENT, total: MAX_STREAMS },
  ) {}

  /** Throws RATE_LIMITED (429) when `address` holds its share of streams, BUSY (503) when all are taken. */
  admit(address: string): void {
    const held = this.perClient.get(clientKey(address)) ?? 0;
    if (held >= this.limits.perClient) throw new FerryError('RATE_LIMITED', `${address} already has ${held} event streams open (at most ${this.limits.perClient} per client)`);
    if (this.clients.size >= this.limits.total) throw new FerryError('BUSY', `${this.clients.size} event streams are open, the most this controller serves: try again later`);
  }

  get size(): number {
    return this.clients.size;
  }

  /** Takes over a raw response (the route must have hijacked it) after admit(address) allowed it. */
  attach(res: ServerResponse, address: string): void {
    this.admit(address);
    const key = clientKey(address);
    this.perClient.set(key, (this.perClient.get(key) ?? 0) + 1);
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    // Tells the client the stream is open before the first event arrives.
    res.write(': ferry event stream\n\n');

    let closed = false;
    const send = (chunk: string): void => {
      if (closed) return;
      if (res.writableLength > MAX_BUFFERED_BYTES) {
        log('dropping a client that is not reading (%d bytes queued)', res.writableLength);
        cleanup(true);
        return;
      }
      res.write(chunk);
    };
    const unsubscribe = this.bus.subscribe((m) => send(formatEvent(m)));
    const timer = setInterval(() => send(': keep-alive\n\n'), KEEPALIVE_MS);
    timer.unref();
    const cleanup = (drop = false): void => {
      if (closed) return;
      closed = true;
      unsubscribe();
      clearInterval(timer);
      this.clients.delete(cleanup);
      const left = (this.perClient.get(key) ?? 1) - 1;
      if (left > 0) this.perClient.set(key, left);
      else this.perClient.delete(key);
      res.off('close', onClose);
      if (drop) res.destroy();
      else if (!res.writableEnded) res.end();
    };
    const onClose = (): void => cleanup();
    res.on('close', onClose);
    this.clients.add(cleanup);
    log('client connected (%d open)', this.clients.size);
  }

  /** Ends every stream (the server cannot close while they are open). Idempotent. */
  closeAll(): void {
    for (const c of [...this.clients]) c();
  }
}
