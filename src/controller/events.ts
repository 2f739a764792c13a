// The in-process event bus: services publish ClusterEvents, the SSE endpoint (and anything
// else) subscribes. Each event gets the next id of this process, which SSE sends as `id:`.
import { EventEmitter } from 'node:events';
import type { ClusterEvent } from '../contracts/controller-api.js';

export interface BusMessage {
  id: number;
  event: ClusterEvent;
}

export class EventBus {
  private readonly ee = new EventEmitter<{ event: [BusMessage] }>();
  private seq = 0;

  constructor() {
    // One listener per connected SSE client; a busy console can hold many.
    this.ee.setMaxListeners(0);
  }

  publish(event: ClusterEvent): void {
    this.ee.emit('event', { id: ++this.seq, event });
  }

  /** Returns the unsubscribe function. */
  subscribe(fn: (m: BusMessage) => void): () => void {
    this.ee.on('event', fn);
    return () => this.ee.off('event', fn);
  }

  listenerCount(): number {
    return this.ee.listenerCount('event');
  }
}
