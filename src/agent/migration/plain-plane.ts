// A DataPlane without TLS or framing: one TCP connection per session, a JSON header line,
// then raw bytes (channel 0 only). For development and tests while ferry-wire is not in use;
// it authenticates nothing, so the agent uses it only when told to (AgentOptions.dataPlane).
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { FerryError } from '../../wire/index.js';
import type { ConnectOptions, DataPlane, DataSession, SessionHello } from './data-plane.js';
import { parseDataUrl } from './data-plane.js';

const HEADER_MAX = 4096;
const CONNECT_TIMEOUT_MS = 10_000;

interface Header extends SessionHello { bytes?: number }

function socketSession(sock: Socket): DataSession {
  let settled = false;
  const closed = new Promise<void>((resolve, reject) => {
    sock.once('error', (err) => { settled = true; reject(err); });
    sock.once('close', () => { settled = true; resolve(); });
  });
  closed.catch(() => undefined);
  return {
    channel(n) {
      if (n !== 0) throw new FerryError('INVALID_REQUEST', 'the plain data plane has channel 0 only');
      return sock;
    },
    wireBytes: () => sock.bytesRead + sock.bytesWritten,
    close: () => void (settled || sock.end()),
    destroy: (err) => void sock.destroy(err),
    closed,
  };
}

/** Reads one header line; pushes back what followed it. */
async function readLine(sock: Socket): Promise<string> {
  let buf = Buffer.alloc(0);
  for (;;) {
    const chunk = sock.read() as Buffer | null;
    if (chunk === null) {
      await Promise.race([once(sock, 'readable'), once(sock, 'close').then(() => { throw new Error('connection closed during handshake'); })]);
      continue;
    }
    buf = Buffer.concat([buf, chunk]);
    const nl = buf.indexOf(10);
    if (nl >= 0) {
      if (nl + 1 < buf.length) sock.unshift(buf.subarray(nl + 1));
      return buf.subarray(0, nl).toString('utf8');
    }
    if (buf.length > HEADER_MAX) throw new Error('header too long');
  }
}

export function startPlainPlane(host: string, port: number): Promise<DataPlane> {
  const expected = new Map<string, { peer: string; onSession: (s: DataSession) => void }>();
  const sockets = new Set<Socket>();
  const server: Server = createServer((sock) => {
    sockets.add(sock);
    sock.once('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    readLine(sock).then((line) => {
      const h = JSON.parse(line) as Header;
      if (h.kind === 'probe') return probeResponder(sock, h.bytes ?? 0);
      const exp = expected.get(h.sessionId);
      if (!exp || exp.peer !== h.sourceHost) {
        sock.end(`ERROR no migration ${h.sessionId} expected from ${h.sourceHost}\n`);
        return;
      }
      expected.delete(h.sessionId);
      sock.write('OK\n');
      exp.onSession(socketSession(sock));
    }).catch(() => sock.destroy());
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const addr = server.address();
      const url = typeof addr === 'object' && addr ? `ferry-wire://${host}:${addr.port}` : undefined;
      resolve({
        url: () => url,
        enforcesBandwidth: false,
        async connect(u: string, _peer: string, hello: SessionHello, opts: ConnectOptions): Promise<DataSession> {
          const sock = await dial(u, hello, opts.signal);
          const reply = await readLine(sock);
          if (reply !== 'OK') {
            sock.destroy();
            throw new FerryError('CONFLICT', `target refused the session: ${reply.replace(/^ERROR /, '')}`);
          }
          return socketSession(sock);
        },
        expect: (id, peer, onSession) => void expected.set(id, { peer, onSession }),
        unexpect: (id) => void expected.delete(id),
        async measure(u, _peer, opts) {
          const sock = await dial(u, { kind: 'probe', sessionId: 'probe', sourceHost: '', bytes: opts.bytes } as Header, opts.signal);
          try {
            const t0 = performance.now();
            await readLine(sock); // the responder's hello
            const rttMs = performance.now() - t0;
            const t1 = performance.now();
            const block = Buffer.alloc(64 * 1024);
            for (let sent = 0; sent < opts.bytes; sent += block.length) {
              if (!sock.write(block.subarray(0, Math.min(block.length, opts.bytes - sent)))) await once(sock, 'drain');
            }
            await readLine(sock);
            const secs = (performance.now() - t1) / 1000;
            return { bytesPerSec: Math.round(opts.bytes / Math.max(secs, 1e-6)), rttMs };
          } finally {
            sock.destroy();
          }
        },
        close: () => new Promise<void>((r) => {
          for (const s of sockets) s.destroy();
          server.close(() => r());
        }),
      });
    });
  });
}

async function dial(url: string, header: Header, signal?: AbortSignal): Promise<Socket> {
  const { host, port } = parseDataUrl(url);
  const sock = createConnection({ host, port, signal, timeout: CONNECT_TIMEOUT_MS });
  sock.on('error', () => undefined);
  await Promise.race([
    once(sock, 'connect'),
    once(sock, 'timeout').then(() => { sock.destroy(); throw new FerryError('TIMEOUT', `no answer from ${url}`); }),
  ]).catch((err: Error) => {
    sock.destroy();
    throw err instanceof FerryError ? err : new FerryError('HOST_DOWN', `cannot reach data endpoint ${url}: ${err.message}`, { cause: err });
  });
  sock.setTimeout(0);
  sock.write(`${JSON.stringify(header)}\n`);
  return sock;
}

function probeResponder(sock: Socket, bytes: number): void {
  sock.write('HELLO\n');
  let got = 0;
  sock.on('data', (c: Buffer) => {
    got += c.length;
    if (got >= bytes) sock.end('DONE\n');
  });
  if (bytes === 0) sock.end('DONE\n');
}
