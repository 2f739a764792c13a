import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ferryHome, resolveConnection, type ClusterFile } from './config.js';

const cluster: ClusterFile = { url: 'http://127.0.0.1:7440', token: 'tok', controller: { pid: 1 }, agents: [] };

test('environment wins over cluster.json', () => {
  assert.deepEqual(resolveConnection({ FERRY_URL: 'http://x:1', FERRY_TOKEN: 't' }, cluster), { url: 'http://x:1', token: 't', source: 'env' });
});

test('cluster.json fills what the environment leaves out', () => {
  assert.deepEqual(resolveConnection({}, cluster), { url: cluster.url, token: 'tok', source: 'cluster.json' });
  assert.deepEqual(resolveConnection({ FERRY_TOKEN: 't2' }, cluster), { url: cluster.url, token: 't2', source: 'env' });
});

test('no cluster and no environment: nothing', () => {
  assert.equal(resolveConnection({ FERRY_URL: 'http://x:1' }, undefined), undefined);
  assert.equal(resolveConnection({}, undefined), undefined);
});

test('home is $FERRY_HOME or ~/.ferry', () => {
  assert.equal(ferryHome({ FERRY_HOME: '/tmp/f' }), '/tmp/f');
  assert.match(ferryHome({}), /\.ferry$/);
});
