import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WaitTimeoutError, waitFor } from './wait-for.js';

describe('waitFor', () => {
  it('returns the first answer that is not undefined or false', async () => {
    const answers = [undefined, false, 0, 1];
    assert.equal(await waitFor('a number', () => answers.shift(), { everyMs: 0 }), 0);
  });

  it('takes a thrown error for "not yet"', async () => {
    let n = 0;
    const v = await waitFor('the third try', async () => {
      if (++n < 3) throw new Error('refused');
      return 'up';
    }, { everyMs: 0 });
    assert.equal(v, 'up');
    assert.equal(n, 3);
  });

  it('on timeout names what it waited for and the last answer', async () => {
    await assert.rejects(waitFor('state running', () => ({ state: 'paused' }.state === 'running'), { timeoutMs: 0 }), (err: unknown) => {
      assert.ok(err instanceof WaitTimeoutError);
      assert.equal(err.message, 'timed out after 0 ms waiting for state running; last answer: false');
      return true;
    });
  });

  it('on timeout names the last error, and keeps it as the cause', async () => {
    const refused = new Error('connect ECONNREFUSED');
    await assert.rejects(waitFor('the server', () => Promise.reject(refused), { timeoutMs: 0 }), (err: unknown) => {
      assert.ok(err instanceof WaitTimeoutError);
      assert.equal(err.message, 'timed out after 0 ms waiting for the server; last error: connect ECONNREFUSED');
      assert.equal(err.cause, refused);
      return true;
    });
  });

  it('probes at least once, even with no time to wait', async () => {
    assert.equal(await waitFor('now', () => 'here', { timeoutMs: 0 }), 'here');
  });
});
