// Console sessions: the right token opens a session that expires, the number of live sessions
// is capped, and failed logins are rate-limited per client, so one guesser locks out only itself.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LoginLimiter } from './rate-limit.js';
import { clientKey } from '../client-key.js';
import { CLEARED_COOKIE, Sessions, sessionCookie } from './sessions.js';

const ADMIN = 'the-admin-token';

function clocked(opts: { ttlMs?: number; maxSessions?: number; perAddress?: { burst: number; perSec: number } } = {}) {
  const clock = { ms: 1_000_000 };
  const now = () => clock.ms;
  const limiter = new LoginLimiter(now, opts.perAddress);
  const sessions = new Sessions({ now, limiter, ...(opts.ttlMs !== undefined ? { ttlMs: opts.ttlMs } : {}), ...(opts.maxSessions !== undefined ? { maxSessions: opts.maxSessions } : {}) });
  return { clock, sessions };
}

function loggedIn(r: ReturnType<Sessions['login']>): { id: string; expiresAt: number } {
  assert.ok(r.ok, 'login refused');
  return r;
}

describe('console sessions', () => {
  it('opens a session for the admin token only, and it expires after its TTL', () => {
    const { clock, sessions } = clocked({ ttlMs: 60_000 });
    assert.deepEqual(sessions.login('1.2.3.4', 'wrong', ADMIN), { ok: false });
    const s = loggedIn(sessions.login('1.2.3.4', ADMIN, ADMIN));
    assert.match(s.id, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(s.expiresAt, clock.ms + 60_000);
    assert.ok(sessions.valid(s.id));
    assert.equal(sessions.valid('made-up'), false);
    clock.ms += 59_999;
    assert.equal(sessions.expiresAt(s.id), s.expiresAt);
    clock.ms += 1;
    assert.equal(sessions.valid(s.id), false);
    assert.equal(sessions.size, 0);
  });

  it('forgets a session on logout', () => {
    const { sessions } = clocked();
    const a = loggedIn(sessions.login('a', ADMIN, ADMIN));
    const b = loggedIn(sessions.login('a', ADMIN, ADMIN));
    assert.notEqual(a.id, b.id);
    sessions.logout(a.id);
    assert.equal(sessions.valid(a.id), false);
    assert.ok(sessions.valid(b.id));
  });

  it('keeps at most maxSessions: the oldest goes to make room', () => {
    const { clock, sessions } = clocked({ maxSessions: 3 });
    const ids = [1, 2, 3, 4].map(() => {
      clock.ms += 10;
      return loggedIn(sessions.login('a', ADMIN, ADMIN)).id;
    });
    assert.equal(sessions.size, 3);
    assert.equal(sessions.valid(ids[0]!), false);
    for (const id of ids.slice(1)) assert.ok(sessions.valid(id));
  });

  it('rate-limits failed logins per address: 429 even for the right token until a failure is forgiven', () => {
    const { clock, sessions } = clocked({ perAddress: { burst: 3, perSec: 0.5 } });
    for (let i = 0; i < 3; i++) assert.deepEqual(sessions.login('10.0.0.1', 'guess', ADMIN), { ok: false });
    const limited = sessions.login('10.0.0.1', ADMIN, ADMIN);
    assert.equal(limited.ok, false);
    assert.equal(!limited.ok && limited.retryAfterMs, 2000);
    assert.ok(sessions.login('10.0.0.2', ADMIN, ADMIN).ok, 'another address is not limited');
    clock.ms += 2000;
    assert.ok(sessions.login('10.0.0.1', ADMIN, ADMIN).ok);
  });

  it('one guesser, however fast, does not lock anyone else out', () => {
    const { sessions } = clocked();
    for (let i = 0; i < 10_000; i++) sessions.login('203.0.113.9', 'guess', ADMIN);
    assert.equal(sessions.login('203.0.113.9', ADMIN, ADMIN).ok, false, 'the guesser waits');
    assert.ok(sessions.login('198.51.100.7', ADMIN, ADMIN).ok, 'an operator elsewhere logs in');
  });

  it('counts an IPv6 client by its /64 and an IPv4-mapped address as IPv4', () => {
    const { sessions } = clocked({ perAddress: { burst: 2, perSec: 0.01 } });
    sessions.login('2001:db8:1:2::a', 'guess', ADMIN);
    sessions.login('2001:db8:1:2:ffff::b', 'guess', ADMIN);
    assert.equal(sessions.login('2001:db8:1:2::c', ADMIN, ADMIN).ok, false, 'same /64');
    assert.ok(sessions.login('2001:db8:1:3::a', ADMIN, ADMIN).ok, 'another /64');
    assert.equal(clientKey('::ffff:10.1.2.3'), '10.1.2.3');
    assert.equal(clientKey('2001:0db8:0000:0002:0:0:0:1'), '2001:db8:0:2::/64');
    assert.equal(clientKey('::1'), '0:0:0:0::/64');
  });

  it('a successful login takes nothing from the limit', () => {
    const { sessions } = clocked({ perAddress: { burst: 1, perSec: 0.01 } });
    for (let i = 0; i < 10; i++) loggedIn(sessions.login('a', ADMIN, ADMIN));
    assert.deepEqual(sessions.login('a', 'guess', ADMIN), { ok: false });
    assert.equal(sessions.login('a', 'guess', ADMIN).ok, false);
  });

  it('sets a Secure, HttpOnly, SameSite=Strict cookie for the whole site, and clears it', () => {
    assert.equal(sessionCookie('abc', 12_000.7), 'ferry_session=abc; Secure; HttpOnly; SameSite=Strict; Path=/; Max-Age=12');
    assert.equal(CLEARED_COOKIE, 'ferry_session=; Secure; HttpOnly; SameSite=Strict; Path=/; Max-Age=0');
  });
});
