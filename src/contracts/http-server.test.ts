// The shared server base: every route needs the right bearer token per prefix, invalid bodies
// get 400 naming the field, unknown fields are refused, FerryError maps to its status.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Type } from '@sinclair/typebox';
import { createApiServer } from './http-server.js';
import { ApiClient } from './http-client.js';
import { FerryError } from './errors.js';
import { VmSpecInput } from './vm-spec.js';

async function withServer(fn: (url: string) => Promise<void>): Promise<void> {
  const app = createApiServer({
    credentials: [
      { prefix: '/api/', tokens: () => ['admin-token'] },
      { prefix: '/internal/', tokens: () => ['secret'] },
    ],
  });
  app.post('/api/vms', { schema: { body: VmSpecInput } }, async (req) => req.body);
  app.get('/api/busy', async () => {
    throw new FerryError('INVALID_STATE', 'cannot pause vm a: it is stopped');
  });
  app.get('/internal/ping', { schema: { querystring: Type.Object({ n: Type.Optional(Type.Integer()) }) } }, async () => ({ ok: true }));
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  try {
    await fn(url);
  } finally {
    await app.close();
  }
}

test('requests without the right credential are refused with 401', async () => {
  await withServer(async (url) => {
    for (const token of ['', 'wrong', 'secret']) {
      const res = await fetch(`${url}/api/busy`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
      assert.equal(res.status, 401, `token '${token}'`);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'UNAUTHORIZED');
    }
    const agentSide = await fetch(`${url}/internal/ping`, { headers: { authorization: 'Bearer admin-token' } });
    assert.equal(agentSide.status, 401);
    const unknownPrefix = await fetch(`${url}/other`, { headers: { authorization: 'Bearer admin-token' } });
    assert.equal(unknownPrefix.status, 401);
    assert.deepEqual(await new ApiClient(url, 'secret').get('/internal/ping'), { ok: true });
  });
});

test('an invalid body gets 400 naming the field', async () => {
  await withServer(async (url) => {
    const api = new ApiClient(url, 'admin-token');
    const cases: [unknown, string][] = [
      [{ name: 'a', memoryMiB: 'lots' }, 'body.memoryMiB'],
      [{ name: 'Bad Name', memoryMiB: 64 }, 'body.name'],
      [{ memoryMiB: 64 }, 'body.name'],
      [{ name: 'a', memoryMiB: 64, colour: 'red' }, 'body.colour'],
      [{ name: 'a', memoryMiB: 64, workload: 'dirty:fast' }, 'body.workload'],
      // A NIC is one of two kinds: the error is the one of the kind it names, not "not a user NIC".
      [{ name: 'a', memoryMiB: 64, nics: [{ network: 'bridged', ip: '10.0.0.300/24' }] }, 'body.nics.0.ip'],
      [{ name: 'a', memoryMiB: 64, nics: [{ network: 'bridged', forwardPorts: [80] }] }, 'body.nics.0.forwardPorts'],
      [{ name: 'a', memoryMiB: 64, nics: [{ network: 'user', ip: '10.0.0.3/24' }] }, 'body.nics.0.ip'],
      [{ name: 'a', memoryMiB: 64, nics: [{ network: 'wifi' }] }, 'body.nics.0.network'],
      // Where a host path may point is the agent's to say; a path that climbs with .. is refused by its shape.
      [{ name: 'a', memoryMiB: 64, disks: [{ image: '/var/lib/ferry/images/../../../../etc/shadow' }] }, 'body.disks.0.image'],
      [{ name: 'a', memoryMiB: 64, boot: { kind: 'kernel', kernel: 'vmlinuz' } }, 'body.boot.kernel'],
    ];
    for (const [body, field] of cases) {
      await assert.rejects(api.post('/api/vms', body), (err: FerryError) => {
        assert.equal(err.code, 'INVALID_REQUEST', JSON.stringify(body));
        assert.equal(err.field, field);
        assert.match(err.message, new RegExp(field.replace('.', '\\.')));
        return true;
      });
    }
    assert.deepEqual(await api.post('/api/vms', { name: 'a', memoryMiB: 64 }), { name: 'a', memoryMiB: 64 });
  });
});

test('a FerryError keeps its code and status across the wire', async () => {
  await withServer(async (url) => {
    const res = await fetch(`${url}/api/busy`, { headers: { authorization: 'Bearer admin-token' } });
    assert.equal(res.status, 409);
    await assert.rejects(new ApiClient(url, 'admin-token').get('/api/busy'), { code: 'INVALID_STATE', message: 'cannot pause vm a: it is stopped' });
  });
});

test('an unreachable server is HOST_DOWN, a slow one TIMEOUT', async () => {
  await assert.rejects(new ApiClient('http://127.0.0.1:1', 't').get('/x', { timeoutMs: 2000 }), { code: 'HOST_DOWN' });
  const app = createApiServer({ credentials: [{ prefix: '/', tokens: () => ['t'] }] });
  app.get('/slow', () => new Promise((r) => setTimeout(() => r({}), 2000)));
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  try {
    await assert.rejects(new ApiClient(url, 't').get('/slow', { timeoutMs: 100 }), { code: 'TIMEOUT' });
  } finally {
    await app.close();
  }
});

test('a public route needs nothing; a valid session cookie stands in for the token, with the CSRF header to change things', async () => {
  const app = createApiServer({
    credentials: [{ prefix: '/api/', tokens: () => ['admin-token'] }],
    isPublic: (method, path) => method === 'GET' && path === '/',
    cookieAuth: { prefixes: ['/api/'], cookie: 'sid', valid: (id) => id === 'good', csrfHeader: 'x-csrf' },
  });
  app.get('/', async () => ({ page: true }));
  app.get('/api/thing', async () => ({ ok: true }));
  app.post('/api/thing', async () => ({ done: true }));
  app.get('/other', async () => ({ other: true }));
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  const status = async (method: string, path: string, headers: Record<string, string> = {}) => (await fetch(`${url}${path}`, { method, headers })).status;
  try {
    assert.equal(await status('GET', '/'), 200);
    assert.equal(await status('POST', '/'), 401);
    assert.equal(await status('GET', '/api/thing'), 401);
    assert.equal(await status('GET', '/api/thing', { cookie: 'a=b; sid=bad' }), 401);
    assert.equal(await status('GET', '/api/thing', { cookie: 'a=b; sid=good' }), 200);
    assert.equal(await status('GET', '/other', { cookie: 'sid=good' }), 401, 'the cookie counts only under its prefixes');
    const refused = await fetch(`${url}/api/thing`, { method: 'POST', headers: { cookie: 'sid=good' } });
    assert.equal(refused.status, 403);
    assert.match(((await refused.json()) as { error: { message: string } }).error.message, /x-csrf: 1/);
    assert.equal(await status('POST', '/api/thing', { cookie: 'sid=good', 'x-csrf': '1' }), 200);
    assert.equal(await status('POST', '/api/thing', { authorization: 'Bearer admin-token' }), 200, 'the bearer token needs no CSRF header');
  } finally {
    await app.close();
  }
});
