import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DriverState, type TransitionTable } from './driver-state.js';
import { TransitionRefusedError } from './errors.js';
import { SOURCE_TRANSITIONS } from './migration/source.js';
import { TARGET_TRANSITIONS } from './migration/target.js';

type Light = 'red' | 'green' | 'off';
const LIGHT: TransitionTable<Light> = { red: ['green', 'off'], green: ['red', 'off'], off: [] };

test('moves only along the table; a forbidden move is a typed INVALID_STATE refusal that changes nothing', () => {
  const s = new DriverState('light 1', LIGHT, 'red');
  s.to('green');
  assert.equal(s.current, 'green');
  s.to('off');
  assert.throws(() => s.to('red', 'it is switched off'), (err: unknown) => {
    assert.ok(err instanceof TransitionRefusedError);
    assert.equal(err.code, 'INVALID_STATE');
    assert.deepEqual([err.from, err.to], ['off', 'red']);
    assert.match(err.message, /light 1: off -> red refused: it is switched off/);
    return true;
  });
  assert.equal(s.current, 'off');
  assert.equal(s.can('green'), false);
  assert.equal(s.is('red', 'off'), true);
});

/** States reachable from `from` (itself included). */
function reachable<S extends string>(table: TransitionTable<S>, from: S): Set<S> {
  const seen = new Set<S>([from]);
  for (const s of seen) for (const n of table[s]) seen.add(n);
  return seen;
}

for (const [name, table, initial, terminal] of [
  ['source', SOURCE_TRANSITIONS, 'starting', ['committed', 'failed', 'aborted']],
  ['target', TARGET_TRANSITIONS, 'reserving', ['committed', 'aborted']],
] as const) {
  test(`${name}: every state is reachable, and every state can still end (committed, failed or aborted)`, () => {
    const t = table as TransitionTable<string>;
    assert.deepEqual([...reachable(t, initial)].sort(), Object.keys(t).sort());
    for (const s of Object.keys(t)) {
      const ends = [...reachable(t, s)].filter((r) => t[r]!.length === 0);
      assert.ok(ends.length > 0, `${name} ${s} never ends`);
    }
    for (const s of terminal) assert.deepEqual(t[s], [], `${name} ${s} is final`);
  });
}

test('source: once committed, being committed, or in post-copy, no abort; only a completed migration commits', () => {
  for (const s of ['committed', 'committing', 'postcopy'] as const) assert.ok(!SOURCE_TRANSITIONS[s].includes('aborted'), s);
  const commits = Object.entries(SOURCE_TRANSITIONS).filter(([, next]) => (next as readonly string[]).includes('committing')).map(([s]) => s);
  assert.deepEqual(commits, ['completed']);
  // A failure after QEMU completed is not a failure of the migration: the target has the whole VM.
  for (const s of ['finishing', 'completed', 'committing', 'committed'] as const) assert.ok(!SOURCE_TRANSITIONS[s].includes('failed'), s);
});

test('target: commit only once the whole VM is here; an abort wins until the guest may run here', () => {
  const commits = Object.entries(TARGET_TRANSITIONS).filter(([, next]) => (next as readonly string[]).includes('committing')).map(([s]) => s);
  assert.deepEqual(commits, ['awaiting-commit']);
  // Once the guest may run here (post-copy switch, commit under way) this copy is the VM: no abort.
  const mayRunHere = ['postcopy', 'committing', 'committed'];
  for (const [s, next] of Object.entries(TARGET_TRANSITIONS)) {
    if (s === 'reserving' || s === 'aborted') continue;
    assert.equal((next as readonly string[]).includes('aborted'), !mayRunHere.includes(s), `${s}: abortable iff the guest never ran here`);
  }
});
