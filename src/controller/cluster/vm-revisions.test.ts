import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { VmStatus } from '../../contracts/vm-spec.js';
import { VmRevisions } from './vm-revisions.js';

const st = (rev?: number, uuid = 'u1'): VmStatus => ({ name: 'web', uuid, state: 'running', spec: {} as VmStatus['spec'], endpoints: [], ...(rev !== undefined ? { rev } : {}) });

describe('VM revisions', () => {
  it('a report older than one applied from the same host is stale', () => {
    const r = new VmRevisions();
    assert.equal(r.isStale('h1', st(1)), false, 'nothing applied yet');
    r.note('h1', st(5));
    r.note('h1', st(3));
    assert.equal(r.isStale('h1', st(4)), true, 'the newest applied (5) counts, not the last noted');
    assert.equal(r.isStale('h1', st(5)), false);
    assert.equal(r.isStale('h2', st(1)), false, 'per host');
    assert.equal(r.isStale('h1', st(1, 'u2')), false, 'per VM');
    assert.equal(r.isStale('h1', st()), false, 'a report without a revision is never stale');
  });
});
