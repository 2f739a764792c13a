// OutputHold against a scripted QMP server: a restarted agent finds the filters the agent before
// it made (holding them, not releasing them), a new epoch of a seq seen before gets an id of its
// own, and a commit releases exactly the epochs started before its own, oldest first.
import { strict as assert } from 'node:assert';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { vmOnFakeQmp, type VmOnFakeQmp } from '../../testing/agent.js';
import type { FakeConnection } from '../../testing/qmp-fake-server.js';
import { OutputHold } from './output-hold.js';

describe('OutputHold', () => {
  let fake: VmOnFakeQmp;
  let conn: FakeConnection;

  beforeEach(async () => {
    fake = await vmOnFakeQmp();
    conn = fake.conn;
  });
  afterEach(() => fake.close());

  /** Answers the next `n` commands with an empty return; resolves with what was asked. */
  async function answer(n: number): Promise<string[]> {
    const seen: string[] = [];
    for (let k = 0; k < n; k++) {
      const cmd = await conn.next();
      seen.push(`${cmd.execute} ${String((cmd.arguments as { id?: string } | undefined)?.id ?? '')}`.trim());
      conn.send({ return: {}, id: cmd.id });
    }
    return seen;
  }

  it('adopts the filters left in QEMU, holds them, and releases them at the next commit', async () => {
    const hold = new OutputHold();
    const adopting = hold.adopt(fake.vm, {});
    const list = await conn.next();
    assert.deepEqual([list.execute, list.arguments], ['qom-list', { path: '/objects' }]);
    conn.send({
      id: list.id,
      return: [
        { name: 'ferry-hold-5-g0-0', type: 'child<filter-buffer>' },
        { name: 'ferry-hold-3-0', type: 'child<filter-buffer>' }, // an agent from before generations
        { name: 'ferry-hold-4-g0-0', type: 'child<filter-buffer>' },
        { name: 'ferry-hold-9-g0-0', type: 'child<iothread>' },
        { name: 'rng0', type: 'child<rng-random>' },
      ],
    });
    assert.equal(await adopting, 3);
    assert.equal(hold.holding(fake.vm.name), 3, 'found, and nothing released');

    // The controller tries seq 5 again (it restarted too): a new id, never the old filter's.
    const epoch = hold.startEpoch(fake.vm, 5, {});
    assert.deepEqual(await answer(1), ['object-add ferry-hold-5-g1-0']);
    await epoch;

    const commit = hold.committed(fake.vm, 5);
    assert.deepEqual(await answer(3), ['object-del ferry-hold-3-0', 'object-del ferry-hold-4-g0-0', 'object-del ferry-hold-5-g0-0']);
    await commit;
    assert.equal(hold.holding(fake.vm.name), 1, 'the committed checkpoint\'s own epoch still holds what came after its instant');

    const all = hold.releaseAll(fake.vm);
    assert.deepEqual(await answer(1), ['object-del ferry-hold-5-g1-0']);
    await all;
    assert.equal(hold.holding(fake.vm.name), 0);
  });

  it('a commit with no epoch of its own releases the older seqs only', async () => {
    const hold = new OutputHold();
    for (const seq of [1, 2, 4]) {
      const p = hold.startEpoch(fake.vm, seq, {});
      await answer(1);
      await p;
    }
    const commit = hold.committed(fake.vm, 3);
    assert.deepEqual(await answer(2), ['object-del ferry-hold-1-g0-0', 'object-del ferry-hold-2-g0-0']);
    await commit;
    assert.equal(hold.holding(fake.vm.name), 1);
  });
});
