import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FerryError } from '../../contracts/index.js';
import { WireError } from '../../ferry-wire/index.js';
import { failureOf } from './errors.js';
import { TransitionRefusedError } from '../errors.js';
import { CheckpointJob } from './job.js';
import { StoreError } from './store/index.js';

describe('checkpoint job', () => {
  it('goes capturing → sending → committed at the source, waiting → sending → committed at the target', () => {
    const src = new CheckpointJob('job-0001', 'source', 'v1', 3);
    assert.equal(src.progress.state, 'capturing');
    src.to('sending', { pauseMs: 12, bytesTotal: 100 });
    src.addBytes(60);
    src.addBytes(40);
    src.to('committed', { newBytes: 7 });
    assert.deepEqual({ ...src.progress }, {
      id: 'job-0001', role: 'source', vm: 'v1', seq: 3, state: 'committed', pauseMs: 12,
      memoryBytes: 0, diskBytes: 0, bytesDone: 100, bytesTotal: 100, wireBytes: 0, newBytes: 7,
    });
    assert.equal(src.live, false);
    const dst = new CheckpointJob('job-0002', 'target', 'v1', 3);
    assert.equal(dst.progress.state, 'waiting');
    dst.to('sending');
    dst.to('committed');
  });

  it('refuses a step the table forbids with a typed error, and leaves the job as it was', () => {
    const job = new CheckpointJob('job-0003', 'target', 'v1', 1);
    assert.throws(() => job.to('committed'), (e) => e instanceof TransitionRefusedError && e.code === 'INVALID_STATE' && /waiting -> committed refused/.test(e.message));
    job.settle(new FerryError('TIMEOUT', 'no session'));
    assert.throws(() => job.to('sending'), /failed -> sending refused/);
    assert.equal(job.progress.state, 'failed');
  });

  it('publishes snapshots: one a reader holds never changes, and none can be written', () => {
    const job = new CheckpointJob('job-0004', 'source', 'v1', 1);
    const before = job.progress;
    job.to('sending', { bytesTotal: 10 });
    job.addBytes(5);
    assert.equal(before.state, 'capturing');
    assert.equal(before.bytesDone, 0);
    assert.equal(job.progress.bytesDone, 5);
    assert.throws(() => ((job.progress as { bytesDone: number }).bytesDone = 9), TypeError);
  });

  it('ends once: the first cause wins; aborted when its signal fired; counters of an ended job stay', async () => {
    const failed = new CheckpointJob('job-0005', 'target', 'v1', 1);
    assert.equal(failed.settle(new StoreError('STORE_FULL', 'no space')), true);
    assert.equal(failed.settle(new FerryError('ABORTED', 'later')), false);
    failed.addBytes(10);
    assert.deepEqual(failed.progress.error, { code: 'STORE_FULL', message: 'no space' });
    assert.equal(failed.progress.bytesDone, 0);

    const aborted = new CheckpointJob('job-0006', 'source', 'v1', 1);
    aborted.abort();
    assert.equal(aborted.signal.aborted, true);
    aborted.settle(new FerryError('ABORTED', 'aborted by request'));
    assert.equal(aborted.progress.state, 'aborted');
    aborted.abort(); // an ended job is left as it is
    await aborted.done;
  });
});

describe('failureOf: the declared code a job reports', () => {
  it('keeps declared codes, maps the store\'s, calls a broken stream WIRE_FAILED and anything else INTERNAL', () => {
    assert.equal(failureOf(new FerryError('NO_CAPACITY', 'x')).code, 'NO_CAPACITY');
    assert.equal(failureOf(new WireError('WIRE_PEER_SILENT', 'x')).code, 'WIRE_PEER_SILENT');
    assert.equal(failureOf(new StoreError('STORE_FULL', 'x')).code, 'STORE_FULL');
    assert.equal(failureOf(new StoreError('STORE_CHUNK_CORRUPT', 'x')).code, 'WIRE_CHUNK_CORRUPT');
    assert.equal(failureOf(new StoreError('STORE_CONFLICT', 'x')).code, 'CONFLICT');
    assert.equal(failureOf(Object.assign(new Error('write after destroy'), { code: 'ERR_STREAM_DESTROYED' })).code, 'WIRE_FAILED');
    assert.equal(failureOf(Object.assign(new Error('no such file'), { code: 'ENOENT' })).code, 'INTERNAL');
    assert.deepEqual(failureOf('odd'), { code: 'INTERNAL', message: 'odd' });
  });
});
