import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { VM_STATES, type VmState } from './vm-spec.js';
import { assertAllowed, isAllowed, VM_ACTIONS, type VmAction } from './vm-actions.js';

// The whole action × state table, written out so a change to the rules is a visible diff here.
const ALLOWED_TABLE: Record<VmAction, VmState[]> = {
  start: ['stopped', 'crashed'],
  stop: ['running', 'paused', 'suspended', 'crashed'],
  pause: ['running'],
  resume: ['paused'],
  suspend: ['running', 'paused'],
  restore: ['suspended'],
  clone: ['stopped', 'running', 'paused', 'suspended', 'crashed'],
  resize: ['running', 'paused'],
  delete: ['stopped', 'suspended', 'crashed'],
};

describe('vm rules', () => {
  for (const action of VM_ACTIONS) {
    for (const state of VM_STATES) {
      const want = ALLOWED_TABLE[action].includes(state);
      it(`${action} when ${state}: ${want ? 'allowed' : 'refused'}`, () => {
        assert.equal(isAllowed(action, state), want);
        if (want) assertAllowed(action, { name: 'v', state });
        else assert.throws(() => assertAllowed(action, { name: 'v', state }), { code: 'INVALID_STATE' });
      });
    }
  }

  it('says why, in words', () => {
    assert.throws(() => assertAllowed('pause', { name: 'web1', state: 'stopped' }), {
      message: 'cannot pause VM web1: it is stopped (pause needs running); start it first',
    });
    assert.throws(() => assertAllowed('restore', { name: 'web1', state: 'running' }), /only a suspended VM can be restored/);
    assert.throws(() => assertAllowed('delete', { name: 'web1', state: 'running' }), /stop it first/);
  });
});
