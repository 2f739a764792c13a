// The fake agent holds to the real agent's contract: the same request answers the same refusal
// from both (the real agent's API built with no services behind it: a request that passes its
// validation would reach a missing service and fail with 500, which the fake never answers
// alike), and a reply the fake was about to send that the contract does not allow fails the
// test that caused it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildAgentApi } from '../../agent/api.js';
import { AllowedPaths } from '../../agent/allowed-paths.js';
import { AGENT_ROUTES } from '../../contracts/agent-routes.js';
import { withDefaults, type VmState } from '../../contracts/vm-spec.js';
import type { ContractBreach } from './contract-server.js';
import { FakeAgent } from './fake-agent.js';
import type { AddressInfo } from 'node:net';
import { httpsServerOptions } from '../../pki/index.js';
import { TestPki } from '../pki.js';

const pki = new TestPki();
const ID = 'mig-0123456789';
const spec = withDefaults({ name: 'web', memoryMiB: 64 }, '00000000-0000-4000-8000-000000000001');

interface Probe {
  method: string;
  path: string;
  body?: unknown;
  /** Whose certificate the request presents (default the controller's; another host's is refused). */
  as?: 'controller' | 'host';
}

async function send(base: string, p: Probe): Promise<{ status: number; body: unknown }> {
  const headers: Record<string, string> = {};
  if (p.body !== undefined) headers['content-type'] = 'application/json';
  const dispatcher = p.as === 'host' ? await pki.dispatcher('host', 'h9', { role: 'host' }) : await pki.dispatcher('controller', 'ferry-controller', { role: 'host', name: 'h1' });
  const init = { method: p.method, headers, body: p.body === undefined ? null : JSON.stringify(p.body), dispatcher };
  const res = await fetch(new URL(p.path, base), init as RequestInit);
  const text = await res.text();
  return { status: res.status, body: res.headers.get('content-type')?.startsWith('application/json') ? (JSON.parse(text) as unknown) : text };
}

/** A concrete path of a route, with these params. */
const pathOf = (url: string, params: Record<string, string>): string => url.replace(/:(\w+)/g, (_m, k: string) => encodeURIComponent(params[k] ?? 'x'));
const GOOD = { name: 'web', id: ID, vm: 'web' };
const BAD = { name: 'Not A Name!', id: 'short', vm: 'Not A Name!' };

describe('the fake agent refuses what the real agent refuses', () => {
  const breaches: ContractBreach[] = [];
  const fake = new FakeAgent('h1', pki, 'main', 8192, 2, { onBreach: (b) => breaches.push(b) });
  let real: FastifyInstance;
  let realUrl: string;
  before(async () => {
    await fake.listen();
    const none = (): never => {
      throw new Error('no service behind this agent API');
    };
    real = buildAgentApi({} as never, httpsServerOptions(await pki.identity('h1'), true), none, none, none, {} as never, new AllowedPaths([]));
    await real.listen({ host: '127.0.0.1', port: 0 });
    realUrl = `https://127.0.0.1:${(real.server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await fake.close();
    await real.close();
  });

  const both = async (p: Probe) => {
    const [r, f] = [await send(realUrl, p), await send(fake.url, p)];
    assert.deepEqual(f, r, `${p.method} ${p.path} ${JSON.stringify(p.body)}: the fake answers as the real agent does`);
    return f as { status: number; body: { error: { code: string; field?: string } } };
  };

  it('every route of the table is one the real agent serves', () => {
    for (const [name, r] of Object.entries(AGENT_ROUTES)) assert.ok(real.hasRoute({ method: r.method, url: r.url }), `${name}: ${r.method} ${r.url}`);
  });

  it('the field at fault is named: an unknown field, a missing one, a bad enum value, a bad param or query', async () => {
    const outgoing = { migrationId: ID, vm: 'web', targetHost: 'h2', targetDataUrl: 'ferry-wire://h2', strategy: 'precopy', maxDowntimeMs: 300, transport: 'passthrough', copyDisks: false };
    const cases: [Probe, string][] = [
      [{ method: 'POST', path: '/agent/v1/vms/web/resize', body: { memoryMiB: 64, colour: 'red' } }, 'body.colour'],
      [{ method: 'POST', path: '/agent/v1/migrations/incoming', body: { migrationId: ID, sourceHost: 'h1', strategy: 'precopy', copyDisks: false } }, 'body.spec'],
      [{ method: 'POST', path: '/agent/v1/migrations/outgoing', body: { ...outgoing, strategy: 'warp' } }, 'body.strategy'],
      [{ method: 'POST', path: '/agent/v1/dr/receive', body: { jobId: ID, vm: 'web', seq: 1, sourceHost: 'h1', spec, keep: 0 } }, 'body.keep'],
      [{ method: 'POST', path: `/agent/v1/migrations/${ID}/commit`, body: { now: true } }, 'body.now'],
      [{ method: 'GET', path: '/agent/v1/migrations/short' }, 'params.id'],
      [{ method: 'GET', path: '/agent/v1/vms/web/console?tailBytes=-1' }, 'querystring.tailBytes'],
      [{ method: 'POST', path: '/agent/v1/vms', body: { ...spec, name: 'Web' } }, 'body.name'],
    ];
    for (const [probe, field] of cases) {
      const r = await both(probe);
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.equal(r.body.error.code, 'INVALID_REQUEST');
      assert.equal(r.body.error.field, field);
    }
    // The same requests, put right, are the fake's to answer.
    assert.equal((await send(fake.url, { method: 'POST', path: '/agent/v1/vms', body: spec })).status, 200);
    assert.equal((await send(fake.url, { method: 'POST', path: '/agent/v1/vms/web/resize', body: { memoryMiB: 64 } })).status, 200);
    assert.equal((await send(fake.url, { method: 'POST', path: '/agent/v1/migrations/outgoing', body: outgoing })).status, 200);
    assert.equal((await send(fake.url, { method: 'GET', path: '/agent/v1/vms/web/console?tailBytes=10' })).status, 200);
  });

  it('every route: the same answer with another host\'s certificate, with a bad param, with an unknown body field', async () => {
    for (const r of Object.values(AGENT_ROUTES)) {
      assert.equal((await both({ method: r.method, path: pathOf(r.url, GOOD), as: 'host' })).status, 401);
      if ('params' in r.schema) assert.equal((await both({ method: r.method, path: pathOf(r.url, BAD) })).status, 400, `${r.method} ${r.url}`);
      if ('body' in r.schema) assert.equal((await both({ method: r.method, path: pathOf(r.url, GOOD), body: { zzUnknown: 1 } })).status, 400, `${r.method} ${r.url}`);
    }
    assert.equal((await both({ method: 'GET', path: '/agent/v1/nothing' })).status, 404);
    assert.equal((await both({ method: 'POST', path: '/agent/v1/vms', body: '{' })).status, 400, 'not JSON');
    assert.deepEqual(breaches, []);
  });
});

describe('a reply that breaks the contract', () => {
  it('is answered 500 naming the field, and reported', async () => {
    const breaches: ContractBreach[] = [];
    const fake = new FakeAgent('h1', pki, 'main', 8192, 2, { onBreach: (b) => breaches.push(b) });
    await fake.listen();
    try {
      fake.vms.set('web', { name: 'web', uuid: spec.uuid, state: 'levitating' as VmState, spec, endpoints: [] });
      const r = (await send(fake.url, { method: 'GET', path: '/agent/v1/vms/web' })) as { status: number; body: { error: { code: string; message: string } } };
      assert.equal(r.status, 500);
      assert.equal(r.body.error.code, 'INTERNAL');
      assert.match(r.body.error.message, /GET \/agent\/v1\/vms\/:name.*\/state/);
      fake.failNext('pause', { status: 500, code: 'QEMU_FAILED', message: 'boom' });
      assert.equal((await send(fake.url, { method: 'POST', path: '/agent/v1/vms/web/pause', body: {} })).status, 500);
      assert.deepEqual(breaches.map((b) => b.route), ['GET /agent/v1/vms/:name', 'POST /agent/v1/vms/:name/pause']);
      assert.match(breaches[1]!.why, /status 500 with QEMU_FAILED, which the server sends as 502/);
    } finally {
      await fake.close();
    }
  });

  it('fails the test that caused it, by default', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-fake-breach-'));
    try {
      const file = join(dir, 'breach.test.mjs');
      writeFileSync(
        file,
        `import { test } from 'node:test';
import { FakeAgent } from ${JSON.stringify(new URL('./fake-agent.js', import.meta.url).href)};
import { TestPki } from ${JSON.stringify(new URL('../pki.js', import.meta.url).href)};
test('a test whose fake agent breaks the contract', async () => {
  const pki = new TestPki();
  const fake = new FakeAgent('h1', pki);
  await fake.listen();
  fake.vms.set('web', { name: 'web', uuid: 'u', state: 'levitating', spec: {}, endpoints: [] });
  await (await pki.agentClient(fake.url, 'h1')).get('/agent/v1/vms/web').catch(() => undefined);
  await new Promise((r) => setTimeout(r, 100));
  await fake.close();
});
`,
      );
      const run = await new Promise<{ code: number | null; out: string }>((resolve) =>
        // A test run of its own: not a child of this one (node:test marks those by NODE_TEST_CONTEXT).
        execFile(process.execPath, ['--test', '--test-reporter=tap', file], { env: withoutTestContext() }, (err, stdout, stderr) => resolve({ code: err ? (err.code as number) : 0, out: stdout + stderr })),
      );
      assert.equal(run.code, 1, run.out);
      assert.match(run.out, /not ok 1 - a test whose fake agent breaks the contract/);
      assert.match(run.out, /ContractBreach/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function withoutTestContext(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  return env;
}
