// The server base's limits against slow, idle and greedy clients, on a real socket: a request
// whose headers never finish, an idle keep-alive connection, an oversize body, too many
// connections. The short limits here are set by the test; the defaults are in HTTP_LIMITS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { once } from 'node:events';
import { createApiServer, MAX_REQUEST_BYTES, type HttpLimits } from './http-server.js';
import { ApiClient } from './http-client.js';
import { waitFor } from '../testing/wait-for.js';

// A failure limit: without the server's limits these connections would stay open for good.
const LIMIT = { timeout: 30_000 };

async function withServer(limits: Partial<HttpLimits>, fn: (url: URL) => Promise<void>): Promise<void> {
  const app = createApiServer({ credentials: [{ prefix: '/', tokens: () => ['t'] }], limits: { checkEveryMs: 100, ...limits } });
  app.post('/echo', async (req) => ({ got: (req.body as { blob?: string }).blob?.length ?? 0 }));
  app.get('/slow', () => new Promise((r) => setTimeout(() => r({ slow: true }), 1500)));
  const url = new URL(await app.listen({ host: '127.0.0.1', port: 0 }));
  try {
    await fn(url);
  } finally {
    await app.close();
  }
}

/** Opens a raw connection, writes `text`, and resolves with everything read until the server closes it. */
async function rawUntilClosed(url: URL, text: string): Promise<string> {
  const sock = net.connect(Number(url.port), url.hostname);
  sock.on('error', () => undefined);
  let got = '';
  sock.on('data', (b: Buffer) => (got += b.toString()));
  await once(sock, 'connect');
  sock.write(text);
  await once(sock, 'close');
  return got;
}

test('headers that never finish are answered 408 and the connection closed', LIMIT, async () => {
  await withServer({ headersTimeoutMs: 300, requestTimeoutMs: 300 }, async (url) => {
    const reply = await rawUntilClosed(url, 'GET /slow HTTP/1.1\r\nHost: x\r\nX-Slow: 1');
    assert.match(reply, /^HTTP\/1\.1 408/);
  });
});

test('a body that stops half way is answered 408 and the connection closed', LIMIT, async () => {
  await withServer({ headersTimeoutMs: 300, requestTimeoutMs: 300 }, async (url) => {
    const reply = await rawUntilClosed(url, 'POST /echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"blob":"');
    assert.match(reply, /^HTTP\/1\.1 408/);
  });
});

test('an idle keep-alive connection is closed; a handler that takes longer than the limits is not cut', LIMIT, async () => {
  await withServer({ keepAliveTimeoutMs: 200, headersTimeoutMs: 300, requestTimeoutMs: 300 }, async (url) => {
    const reply = await rawUntilClosed(url, 'GET /slow HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n\r\n');
    assert.match(reply, /^HTTP\/1\.1 200/, 'the slow answer arrived');
    assert.match(reply, /\{"slow":true\}$/);
  });
});

test('a body over MAX_REQUEST_BYTES is a 400 that says so', LIMIT, async () => {
  await withServer({}, async (url) => {
    const api = new ApiClient(url.origin, 't');
    await assert.rejects(api.post('/echo', { blob: 'x'.repeat(MAX_REQUEST_BYTES) }), (err: { code?: string; message: string }) => err.code === 'INVALID_REQUEST' && /larger than/.test(err.message));
    assert.deepEqual(await api.post('/echo', { blob: 'x'.repeat(1000) }), { got: 1000 });
  });
});

test('connections past maxConnections are closed at accept; one freed lets the next in', LIMIT, async () => {
  await withServer({ maxConnections: 2 }, async (url) => {
    const open = async (): Promise<net.Socket> => {
      const s = net.connect(Number(url.port), url.hostname);
      s.on('error', () => undefined);
      await once(s, 'connect');
      return s;
    };
    const held = [await open(), await open()];
    const third = await rawUntilClosed(url, 'GET /slow HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n\r\n');
    assert.equal(third, '', 'closed without an answer');
    held[0]!.destroy();
    // The server counts the connection gone once it sees the close, a moment after our side.
    assert.deepEqual(await waitFor('an answer once a connection closed', () => new ApiClient(url.origin, 't').get('/slow'), { everyMs: 50 }), { slow: true });
    held[1]!.destroy();
  });
});
