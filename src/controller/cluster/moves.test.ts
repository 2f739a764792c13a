import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MoveRegistry } from './moves.js';

describe('move registry', () => {
  it('holds the target until the task settles, then ends the move and its switch-over', async () => {
    const moves = new MoveRegistry();
    const told: string[] = [];
    moves.onSwitch((vm) => told.push(`${vm}:${moves.isSwitching(vm)}`));
    let settle!: () => void;
    moves.reserveUntil('web', 'h2', new Promise<void>((r) => (settle = r)));
    assert.equal(moves.movingTo('web'), 'h2');
    assert.equal(moves.movingTo('db'), undefined);
    moves.beginSwitch('web');
    moves.beginSwitch('web');
    assert.deepEqual(told, ['web:true'], 'told once per change');
    settle();
    await new Promise((r) => setImmediate(r));
    assert.equal(moves.movingTo('web'), undefined);
    assert.equal(moves.isSwitching('web'), false);
    assert.deepEqual(told, ['web:true', 'web:false']);
  });

  it('a failed task ends the move too', async () => {
    const moves = new MoveRegistry();
    moves.reserveUntil('web', 'h2', Promise.reject(new Error('boom')));
    await new Promise((r) => setImmediate(r));
    assert.equal(moves.movingTo('web'), undefined);
  });

  it('ending a switch that never began tells no one', () => {
    const moves = new MoveRegistry();
    const told: string[] = [];
    moves.onSwitch((vm) => told.push(vm));
    moves.endSwitch('web');
    assert.deepEqual(told, []);
  });
});
