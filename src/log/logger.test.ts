import { strict as assert } from 'node:assert';
import { describe, it, mock } from 'node:test';
import { isEnabled, logger, warnRateLimited } from './logger.js';

/** What `fn` writes to stderr, line by line. */
function stderrOf(fn: () => void): string[] {
  const lines: string[] = [];
  const spy = mock.method(process.stderr, 'write', (chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  try {
    fn();
  } finally {
    spy.mock.restore();
  }
  return lines;
}

describe('isEnabled', () => {
  it('matches namespaces like the debug package', () => {
    assert.equal(isEnabled('ferry:qmp', undefined), false);
    assert.equal(isEnabled('ferry:qmp', ''), false);
    assert.equal(isEnabled('ferry:qmp', 'ferry:qmp'), true);
    assert.equal(isEnabled('ferry:qmp', 'ferry:*'), true);
    assert.equal(isEnabled('ferry:qmp', '*'), true);
    assert.equal(isEnabled('ferry:qmp', 'other,ferry:qmp'), true);
    assert.equal(isEnabled('ferry:qmp', 'ferry:agent'), false);
    assert.equal(isEnabled('ferry:qmp', 'ferry:*,-ferry:qmp'), false);
    assert.equal(isEnabled('ferry:qmpx', 'ferry:qmp'), false);
  });

  it('takes space-separated lists and lets an exclusion win wherever it stands', () => {
    assert.equal(isEnabled('ferry:controller:sse', 'ferry:agent ferry:controller:*'), true);
    assert.equal(isEnabled('ferry:controller:sse', '-ferry:controller:sse,ferry:*'), false);
    assert.equal(isEnabled('ferry:controller', 'ferry:controller:*'), false);
  });
});

describe('logger', () => {
  it('when off, writes nothing and never formats its arguments', () => {
    const log = logger('ferry:test', 'ferry:other');
    let formatted = false;
    const arg = { [Symbol.for('nodejs.util.inspect.custom')]: () => ((formatted = true), 'x') };
    const lines = stderrOf(() => log('value %o', arg));
    assert.equal(log.enabled, false);
    assert.deepEqual(lines, []);
    assert.equal(formatted, false);
  });

  it('when on, writes one line: ISO time, namespace, the printf-style message', () => {
    const log = logger('ferry:test', 'ferry:*');
    const lines = stderrOf(() => log('vm %s: %d rounds, %o', 'web', 3, { a: 1 }));
    assert.equal(log.enabled, true);
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ferry:test vm web: 3 rounds, \{ a: 1 \}\n$/);
  });
});

describe('warnRateLimited', () => {
  it('prints whatever DEBUG says, at most once per window per key', () => {
    mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
    try {
      const lines = stderrOf(() => {
        warnRateLimited('ferry:test', 'k1', 1000, 'first %s', 'a');
        warnRateLimited('ferry:test', 'k1', 1000, 'dropped');
        warnRateLimited('ferry:test', 'k2', 1000, 'other key');
        mock.timers.tick(999);
        warnRateLimited('ferry:test', 'k1', 1000, 'still dropped');
        mock.timers.tick(1);
        warnRateLimited('ferry:test', 'k1', 1000, 'again');
      });
      assert.deepEqual(lines.map((l) => l.replace(/^\S+ /, '')), ['ferry:test first a\n', 'ferry:test other key\n', 'ferry:test again\n']);
    } finally {
      mock.timers.reset();
    }
  });
});
