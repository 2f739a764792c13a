// QMP client over a Unix socket. Protocol: QEMU docs/interop/qmp-spec.rst.
//
// Lifecycle: connect → greeting → qmp_capabilities → open ⇄ (commands, events) →
// closing (close(): pending calls finish, then we end our side) → closed.
// Every way of reaching `closed` goes through #teardown(), which rejects every pending call
// and event waiter with QmpDisconnectedError and emits 'close' exactly once.
//
// Commands are pipelined: QEMU executes them in order and echoes our `id`, which is how
// replies are matched. A call that times out or is aborted is rejected alone; QEMU may
// still carry it out, and its late reply is dropped.
import { EventEmitter } from 'node:events';
import { createConnection, type Socket } from 'node:net';
import { pendingCall, type PendingCall, type QmpCallOptions } from './call.js';
import type { QmpCommands } from './commands.js';
import { CLOSE_GRACE_MS, DEFAULT_TIMEOUT_MS } from './constants.js';
import { logger } from '../log/logger.js';
import {
  QmpAbortedError,
  QmpCommandError,
  QmpConnectError,
  QmpDisconnectedError,
  QmpProtocolError,
  QmpTimeoutError,
} from './errors.js';
import { QmpParser, type QmpMessage } from './parser.js';

const debug = logger('ferry:qmp');

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp: { seconds: number; microseconds: number };
}

export interface QmpGreeting {
  QMP: {
    version: { qemu: { major: number; minor: number; micro: number }; package: string };
    capabilities: string[];
  };
}

export interface WaitForEventOptions extends QmpCallOptions {
  match?: (ev: QmpEvent) => boolean;
}

interface QmpClientEvents {
  event: [ev: QmpEvent];
  close: [err?: Error];
}

interface Waiter {
  readonly name: string;
  readonly match: ((ev: QmpEvent) => boolean) | undefined;
  readonly call: PendingCall<QmpEvent>;
}

type State = 'greeting' | 'open' | 'closing' | 'closed';

export class QmpClient extends EventEmitter<QmpClientEvents> {
  readonly #socket: Socket;
  readonly #parser: QmpParser;
  readonly #pending = new Map<number, { command: string; call: PendingCall<unknown> }>();
  readonly #waiters = new Set<Waiter>();
  #state: State = 'greeting';
  #greeting: QmpGreeting | undefined;
  #handshake: PendingCall<QmpGreeting> | undefined;
  #nextId = 1;
  #closePromise: Promise<void> | undefined;
  #closeTimer: NodeJS.Timeout | undefined;

  private constructor(socket: Socket) {
    super();
    this.#socket = socket;
    this.#parser = new QmpParser((msg) => this.#onMessage(msg));
    socket.on('data', (chunk: Buffer) => {
      if (this.#state === 'closed') return;
      try {
        this.#parser.push(chunk);
      } catch (err) {
        if (!(err instanceof QmpProtocolError)) throw err;
        debug('protocol error: %s', err.message);
        this.#teardown(err);
      }
    });
    socket.on('error', (err) => this.#teardown(err));
    socket.on('close', () => {
      this.#teardown(this.#state === 'closing' ? undefined : new QmpDisconnectedError('QMP connection closed by QEMU'));
    });
  }

  /**
   * Connects to a QMP socket, reads the greeting and leaves capabilities-negotiation mode.
   * One attempt: the caller retries. Rejects with QmpTimeoutError or QmpAbortedError, or
   * QmpConnectError whose `cause` is the underlying failure (ENOENT, ECONNREFUSED, …).
   * `timeoutMs` covers the whole handshake.
   */
  static async connect(socketPath: string, opts?: QmpCallOptions & { fds?: never }): Promise<QmpClient> {
    const timeoutMs = opts?.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const deadline = Date.now() + timeoutMs;
    const what = `QMP connect to ${socketPath}`;
    if (opts?.signal?.aborted) throw new QmpAbortedError(what, opts.signal.reason);

    const client = new QmpClient(createConnection({ path: socketPath }));
    const handshake = pendingCall<QmpGreeting>(what, opts, () => (client.#handshake = undefined));
    client.#handshake = handshake;
    try {
      await handshake.promise;
      const remaining = Math.max(1, deadline - Date.now());
      await client.execute('qmp_capabilities', undefined, { timeoutMs: remaining, signal: opts?.signal });
    } catch (err) {
      client.destroy(err instanceof Error ? err : undefined);
      if (err instanceof QmpTimeoutError) throw new QmpTimeoutError(what, timeoutMs);
      if (err instanceof QmpAbortedError) throw new QmpAbortedError(what, err.cause);
      throw new QmpConnectError(socketPath, err instanceof QmpDisconnectedError && err.cause ? err.cause : err);
    }
    debug('connected to %s (QEMU %o)', socketPath, client.greeting.QMP.version.qemu);
    return client;
  }

  get greeting(): QmpGreeting {
    if (!this.#greeting) throw new Error('QMP greeting not received yet');
    return this.#greeting;
  }

  /** True once close() or destroy() was called or the connection was lost. */
  get closed(): boolean {
    return this.#state === 'closing' || this.#state === 'closed';
  }

  execute<C extends keyof QmpCommands>(
    command: C,
    args?: QmpCommands[C]['args'],
    opts?: QmpCallOptions,
  ): Promise<QmpCommands[C]['ret']> {
    return this.executeRaw(command, args as Record<string, unknown> | undefined, opts) as Promise<QmpCommands[C]['ret']>;
  }

  /** Sends any command; rejects with QmpCommandError when QEMU answers with an error. */
  executeRaw(command: string, args?: Record<string, unknown>, opts?: QmpCallOptions): Promise<unknown> {
    if (this.#state !== 'open') {
      return Promise.reject(new QmpDisconnectedError(`cannot send '${command}': QMP connection is closed`));
    }
    const id = this.#nextId++;
    const call = pendingCall<unknown>(`QMP command '${command}'`, opts, () => this.#pending.delete(id));
    if (call.settled) return call.promise;
    this.#pending.set(id, { command, call });
    const msg = args === undefined ? { execute: command, id } : { execute: command, arguments: args, id };
    debug('-> %s id=%d %o', command, id, args ?? {});
    // Write errors surface as the socket's 'error' event, which tears everything down.
    this.#socket.write(`${JSON.stringify(msg)}\n`);
    return call.promise;
  }

  /**
   * Resolves with the next event called `name` (and accepted by `match`). Register before
   * triggering the event: events that arrived earlier are not replayed.
   */
  waitForEvent(name: string, opts?: WaitForEventOptions): Promise<QmpEvent> {
    if (this.closed) {
      return Promise.reject(new QmpDisconnectedError(`cannot wait for ${name}: QMP connection is closed`));
    }
    const waiter: Waiter = {
      name,
      match: opts?.match,
      call: pendingCall<QmpEvent>(`waiting for QMP event ${name}`, opts, () => this.#waiters.delete(waiter)),
    };
    if (!waiter.call.settled) this.#waiters.add(waiter);
    return waiter.call.promise;
  }

  /** Lets pending calls finish (each within its own timeout), then closes. Never rejects. */
  close(): Promise<void> {
    if (this.#closePromise) return this.#closePromise;
    if (this.#state === 'closed') return (this.#closePromise = Promise.resolve());
    this.#state = 'closing';
    const closed = new Promise<void>((resolve) => this.once('close', () => resolve()));
    this.#closePromise = (async () => {
      await Promise.allSettled([...this.#pending.values()].map((p) => p.call.promise));
      if (this.#state === 'closed') return;
      this.#socket.end();
      this.#closeTimer = setTimeout(() => this.#teardown(undefined), CLOSE_GRACE_MS);
      await closed;
    })();
    return this.#closePromise;
  }

  /** Closes at once; every pending call rejects with QmpDisconnectedError (cause = err). */
  destroy(err?: Error): void {
    this.#teardown(err);
  }

  // The one cleanup path.
  #teardown(cause: Error | undefined): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    clearTimeout(this.#closeTimer);
    this.#socket.destroy();
    debug('closed (%s), %d pending', cause?.message ?? 'graceful', this.#pending.size);
    const because = cause ? `: ${cause.message}` : '';
    for (const { command, call } of [...this.#pending.values()]) {
      call.reject(new QmpDisconnectedError(`QMP connection closed before '${command}' got a reply${because}`, { cause }));
    }
    for (const { name, call } of [...this.#waiters]) {
      call.reject(new QmpDisconnectedError(`QMP connection closed while waiting for ${name}${because}`, { cause }));
    }
    this.#handshake?.reject(cause ?? new QmpDisconnectedError('QMP connection closed before the greeting'));
    this.emit('close', cause);
  }

  #onMessage(msg: QmpMessage): void {
    if (this.#state === 'closed') return;
    if (this.#state === 'greeting') return this.#onGreeting(msg);
    if (typeof msg.event === 'string') return this.#onEvent(msg as unknown as QmpEvent);
    if ('return' in msg || 'error' in msg) return this.#onReply(msg);
    debug('ignoring unexpected message %o', msg);
  }

  #onGreeting(msg: QmpMessage): void {
    const qmp = msg.QMP as QmpGreeting['QMP'] | undefined;
    if (typeof qmp !== 'object' || qmp === null || typeof qmp.version?.qemu !== 'object') {
      this.#teardown(new QmpProtocolError(`expected QMP greeting, got ${JSON.stringify(msg).slice(0, 200)}`));
      return;
    }
    this.#greeting = msg as unknown as QmpGreeting;
    this.#state = 'open';
    this.#handshake?.resolve(this.#greeting);
  }

  #onReply(msg: QmpMessage): void {
    const entry = typeof msg.id === 'number' ? this.#pending.get(msg.id) : undefined;
    if (!entry) {
      // Late reply to a call that timed out or was aborted, or an id-less error such as
      // QEMU's reply to unparsable input.
      debug('ignoring reply with unknown id %o', msg);
      return;
    }
    if ('error' in msg) {
      const error = (msg.error ?? {}) as { class?: unknown; desc?: unknown };
      const qemuClass = typeof error.class === 'string' ? error.class : 'GenericError';
      const desc = typeof error.desc === 'string' ? error.desc : JSON.stringify(msg.error);
      debug('<- %s id=%s error %s: %s', entry.command, msg.id, qemuClass, desc);
      entry.call.reject(new QmpCommandError(entry.command, qemuClass, desc));
    } else {
      debug('<- %s id=%s %o', entry.command, msg.id, msg.return);
      entry.call.resolve(msg.return);
    }
  }

  #onEvent(ev: QmpEvent): void {
    debug('event %s %o', ev.event, ev.data);
    for (const waiter of [...this.#waiters]) {
      if (waiter.name !== ev.event) continue;
      try {
        if (waiter.match && !waiter.match(ev)) continue;
      } catch (err) {
        waiter.call.reject(err instanceof Error ? err : new Error(String(err)));
        continue;
      }
      waiter.call.resolve(ev);
    }
    this.emit('event', ev);
  }
}
