import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDuration, parseSites, parseSizeMiB, parseWorkload, planHosts } from './parse.js';

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

test('bandwidth: bytes/s with binary units, bits/s with decimal ones', async () => {
  const { parseBandwidth } = await import('./parse.js');
  assert.equal(parseBandwidth('100M'), 100 * 1024 * 1024);
  assert.equal(parseBandwidth('1G'), 1024 ** 3);
  assert.equal(parseBandwidth('1GiB/s'), 1024 ** 3);
  assert.equal(parseBandwidth('100Mbit'), 12_500_000);
  assert.equal(parseBandwidth('1gbit/s'), 125_000_000);
  assert.equal(parseBandwidth('65536'), 65536);
  for (const bad of ['fast', '1K', '10x', '', '100 Mbit extra']) assert.throws(() => parseBandwidth(bad), /rate|at least/, bad);
});

test('durations are milliseconds; a bare number is seconds', () => {
  assert.deepEqual(['500ms', '30s', '2m', '1h30m', '1.5s', '45', '0'].map(parseDuration), [500, 30_000, 120_000, 5_400_000, 1500, 45_000, 0]);
  for (const bad of ['', 'soon', '30 sec', '-1s', '1d', 's30']) assert.throws(() => parseDuration(bad), /duration/, bad);
});
