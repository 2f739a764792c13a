import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { isDebugEnabled } from './debug.js';

describe('isDebugEnabled', () => {
  it('matches namespaces like the debug package', () => {
    assert.equal(isDebugEnabled('ferry:qmp', undefined), false);
    assert.equal(isDebugEnabled('ferry:qmp', ''), false);
    assert.equal(isDebugEnabled('ferry:qmp', 'ferry:qmp'), true);
    assert.equal(isDebugEnabled('ferry:qmp', 'ferry:*'), true);
    assert.equal(isDebugEnabled('ferry:qmp', '*'), true);
    assert.equal(isDebugEnabled('ferry:qmp', 'other,ferry:qmp'), true);
    assert.equal(isDebugEnabled('ferry:qmp', 'ferry:agent'), false);
    assert.equal(isDebugEnabled('ferry:qmp', 'ferry:*,-ferry:qmp'), false);
    assert.equal(isDebugEnabled('ferry:qmpx', 'ferry:qmp'), false);
  });
});
