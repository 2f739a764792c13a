// Opening and accepting a session: HELLO → HELLO_ACK (or ERROR), with a timeout, an AbortSignal
// and one cleanup path. Frames that arrive behind the handshake are handed to the session.
import type { Duplex } from 'node:stream';
import { HANDSHAKE_TIMEOUT_MS, PROTOCOL_VERSION } from './constants.js';
import { encodeFrame } from './encoder.js';
import { errorCodeOf, remoteError, WireError } from './errors.js';
import type { Frame, Hello } from './frames.js';
import { FrameParser } from './parser.js';
import { Session } from './session.js';
import type { SessionOptions, WireSession } from './types.js';
import { serveProbe } from './probe.js';

export type HelloInit = Omit<Hello, 'mode' | 'capabilities' | 'role'> & Partial<Pick<Hello, 'capabilities' | 'role'>>;

/** Reads frames until `pick` returns a value; rejects on socket failure, timeout or abort. */
function await1<T>(socket: Duplex, parser: FrameParser, signal: AbortSignal | undefined, pick: (f: Frame, rest: Frame[]) => T | undefined): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const done = (err: Error | undefined, v?: T): void => {
      clearTimeout(timer);
      socket.off('data', onData).off('error', onErr).off('close', onClose);
      signal?.removeEventListener('abort', onAbort);
      socket.pause();
      if (err) {
        socket.destroy();
        reject(err);
      } else resolve(v as T);
    };
    const onData = (b: Buffer): void => {
      try {
        const frames = parser.push(b);
        for (let i = 0; i < frames.length; i++) {
          const v = pick(frames[i]!, frames.slice(i + 1));
          if (v !== undefined) return done(undefined, v);
        }
      } catch (err) {
        done(err as Error);
      }
    };
    const onErr = (e: Error): void => done(new WireError('WIRE_CONNECTION_LOST', `socket: ${e.message}`, { cause: e }));
    const onClose = (): void => done(new WireError('WIRE_CONNECTION_LOST', 'socket closed during the handshake'));
    const onAbort = (): void => done(new WireError('WIRE_ABORTED', 'aborted', { cause: signal?.reason }));
    const timer = setTimeout(() => done(new WireError('WIRE_TIMEOUT', 'handshake timed out')), HANDSHAKE_TIMEOUT_MS);
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort);
    socket.on('data', onData).on('error', onErr).on('close', onClose);
    socket.resume();
  });
}

/** Client side: sends HELLO, waits for HELLO_ACK. The acceptor's mode wins. */
export async function openSession(socket: Duplex, hello: HelloInit, opts: SessionOptions): Promise<WireSession> {
  const parser = new FrameParser();
  const full: Hello = { role: 'source', capabilities: ['chunked', 'zero', 'deflate', 'brotli'], ...hello, mode: opts.mode };
  socket.write(encodeFrame({ type: 'HELLO', channel: 0, version: PROTOCOL_VERSION, hello: full }));
  const { ack, rest } = await await1(socket, parser, opts.signal, (f, rest) => {
    if (f.type === 'ERROR') throw remoteError(f.code, f.message);
    if (f.type !== 'HELLO_ACK') throw new WireError('WIRE_PROTOCOL', `expected HELLO_ACK, got ${f.type}`);
    return { ack: f.ack, rest };
  });
  return new Session(socket, parser, { ...full, mode: ack.mode }, { ...opts, mode: ack.mode }, true, rest);
}

/**
 * Server side: waits for HELLO and asks `decide`. If it throws (a FerryError to pick the code),
 * the peer gets an ERROR frame, the socket is ended, and this rejects with the same error.
 */
export async function acceptSession(
  socket: Duplex,
  decide: (hello: Hello) => Promise<SessionOptions> | SessionOptions,
  opts: { signal?: AbortSignal } = {},
): Promise<WireSession> {
  const parser = new FrameParser();
  const { hello, rest } = await await1(socket, parser, opts.signal, (f, rest) => {
    if (f.type !== 'HELLO') throw new WireError('WIRE_PROTOCOL', `expected HELLO, got ${f.type}`);
    return { hello: f.hello, rest };
  });
  let chosen: SessionOptions;
  try {
    chosen = await decide(hello);
  } catch (err) {
    socket.end(encodeFrame({ type: 'ERROR', channel: 0, code: errorCodeOf(err), message: (err as Error).message ?? String(err) }));
    setTimeout(() => socket.destroy(), 1000).unref();
    throw err;
  }
  socket.write(encodeFrame({ type: 'HELLO_ACK', channel: 0, version: PROTOCOL_VERSION, ack: { mode: chosen.mode, capabilities: ['chunked', 'zero', 'deflate', 'brotli'] } }));
  const session = new Session(socket, parser, { ...hello, mode: chosen.mode }, chosen, false, rest);
  if (hello.kind === 'probe') serveProbe(session);
  return session;
}
