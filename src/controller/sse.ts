// GET /api/v1/events: ClusterEvents as Server-Sent Events (`id:` = bus sequence number,
// `event:` = type, `data:` = the event as JSON). A comment line every 15 s keeps proxies from
// closing an idle stream. A client that stops reading is dropped once its unsent buffer passes
// MAX_BUFFERED_BYTES, rather than letting the controller's memory grow without bound. All
// cleanup (bus listener, timer, socket) happens in one idempotent function.
import type { ServerResponse } from 'node:http';
import type { EventBus, BusMessage } from './events.js';
import { createLog } from './log.js';

const log = createLog('ferry:controller:sse');

export const KEEPALIVE_MS = 15_000;
export const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

export function formatEvent(m: BusMessage): string {
  return `id: ${m.id}\nevent: ${m.event.type}\ndata: ${JSON.stringify(m.event)}\n\n`;
}

export class SseHub {
  private readonly clients = new Set<() => void>();

  constructor(private readonly bus: EventBus) {}

  get size(): number {
    return this.clients.size;
  }

  /** Takes over a raw response (the route must have hijacked it). */
  attach(res: ServerResponse): void {
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
