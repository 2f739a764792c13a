import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSites, parseSizeMiB, parseWorkload, planHosts } from './parse.js';

test('sizes are MiB; units M, G, T (and MiB/GiB spellings)', () => {
  assert.equal(parseSizeMiB('1G'), 1024);
  assert.equal(parseSizeMiB('512M'), 512);
  assert.equal(parseSizeMiB('512'), 512);
  assert.equal(parseSizeMiB('1.5g'), 1536);
  assert.equal(parseSizeMiB('2GiB'), 2048);
  assert.equal(parseSizeMiB('1T'), 1024 * 1024);
});

test('bad sizes are refused', () => {
  for (const bad of ['lots', '', '1K', '0', '0.3M', '-1G', '1 G B']) assert.throws(() => parseSizeMiB(bad), /size|MiB/, bad);
});

test('workloads follow the guest grammar', () => {
  assert.equal(parseWorkload('dirty:8:32'), 'dirty:8:32');
  assert.equal(parseWorkload('http,cpu'), 'http,cpu');
  assert.throws(() => parseWorkload('dirty:8'));
  assert.throws(() => parseWorkload('busy'));
});

test('sites become hosts numbered across the cluster', () => {
  assert.deepEqual(planHosts(parseSites('main:2,dr:1')), [
    { name: 'host1', site: 'main' },
    { name: 'host2', site: 'main' },
    { name: 'host3', site: 'dr' },
  ]);
  assert.throws(() => parseSites('main'));
  assert.throws(() => parseSites('main:0'));
  assert.throws(() => parseSites('main:1,main:2'));
});
