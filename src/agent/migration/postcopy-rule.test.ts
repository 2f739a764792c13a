import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shouldStartPostcopy, type PollSample } from './postcopy-rule.js';

const s = (rounds: number, remaining: number): PollSample => ({ rounds, remaining });

test('precopy never switches', () => {
  assert.equal(shouldStartPostcopy('precopy', [s(50, 1e9), s(51, 1e9), s(52, 1e9), s(53, 1e9)]), false);
});

test('postcopy switches after the first round, not before', () => {
  assert.equal(shouldStartPostcopy('postcopy', []), false);
  assert.equal(shouldStartPostcopy('postcopy', [s(0, 1e8)]), false);
  assert.equal(shouldStartPostcopy('postcopy', [s(0, 1e8), s(1, 5e7)]), true);
});

test('hybrid waits for enough rounds even when stalled', () => {
  const h = [s(1, 1e7), s(2, 1e7), s(3, 1e7), s(4, 1e7), s(4, 1e7)];
  assert.equal(shouldStartPostcopy('hybrid', h), false);
});

test('hybrid keeps pre-copy while remaining shrinks', () => {
  const h = [s(5, 8e7), s(6, 4e7), s(7, 2e7), s(8, 1e7)];
  assert.equal(shouldStartPostcopy('hybrid', h), false);
});

test('hybrid switches when remaining stops shrinking after enough rounds', () => {
  const h = [s(5, 2e7), s(6, 2.1e7), s(7, 1.9e7), s(8, 2.2e7)];
  assert.equal(shouldStartPostcopy('hybrid', h), true);
});

test('hybrid needs a full window of polls', () => {
  assert.equal(shouldStartPostcopy('hybrid', [s(9, 2e7), s(9, 2e7)]), false);
});

test('one shrinking poll in the window keeps pre-copy', () => {
  const h = [s(5, 2e7), s(6, 2e7), s(7, 1e7), s(8, 2e7)];
  assert.equal(shouldStartPostcopy('hybrid', h), false);
});
