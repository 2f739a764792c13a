// One workload grammar: the web console's create form refuses exactly what the API refuses, and
// the CLI agrees with both, for a table of inputs. The console's side is its field's constraints
// read the way a browser does (HTML's `pattern` is anchored and compiled with the `v` flag;
// `required` refuses ''; `maxlength` stops input at its length); the API's side is a request
// through the shared server base with the create route's own schema.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from 'commander';
import { parseWorkload } from './parse.js';
import { CreateVmRequest } from '../contracts/controller-api.js';
import { createApiServer } from '../contracts/http-server.js';
import { WORKLOAD_EXAMPLES, WORKLOAD_INPUT, WORKLOAD_MAX_LENGTH, isWorkload } from '../contracts/workload.js';

/** Grammatical, WORKLOAD_MAX_LENGTH long and one longer. */
const AT_LIMIT = `${Array(38).fill('echo').join(',')},dirty:10:1`;
const OVER_LIMIT = `${Array(38).fill('echo').join(',')},dirty:10:10`;

const INPUTS: [string, boolean][] = [
  ['idle', true],
  ['cpu', true],
  ['http', true],
  ['echo', true],
  ['dirty:32:96', true],
  ['dirty:99999:999999', true],
  ['http,echo', true],
  ['echo,dirty:8:32,cpu', true],
  ['', false],
  ['busy', false],
  ['dirty', false],
  ['dirty:8', false],
  ['dirty:fast:32', false],
  ['dirty:100000:1', false],
  ['dirty:1:1000000', false],
  ['dirty:-1:8', false],
  ['Idle', false],
  [' idle', false],
  ['idle,', false],
  [',idle', false],
  ['idle,,cpu', false],
  ['idle cpu', false],
  ['echo\n', false],
  [AT_LIMIT, true],
  [OVER_LIMIT, false],
];

/** The console's field, as a browser validates it. */
function consoleAccepts(value: string): boolean {
  if (value === '') return false;
  if (value.length > WORKLOAD_INPUT.maxLength) return false;
  return new RegExp(`^(?:${WORKLOAD_INPUT.pattern})$`, 'v').test(value);
}

function cliAccepts(value: string): boolean {
  try {
    parseWorkload(value);
    return true;
  } catch (err) {
    if (err instanceof InvalidArgumentError) return false;
    throw err;
  }
}

describe('one workload grammar', () => {
  it('the table reaches the length limit and goes one past it', () => {
    assert.equal(AT_LIMIT.length, WORKLOAD_MAX_LENGTH);
    assert.equal(OVER_LIMIT.length, WORKLOAD_MAX_LENGTH + 1);
  });

  it('the API, the console and the CLI accept and refuse the same inputs', async () => {
    const app = createApiServer({ credentials: [{ prefix: '/api/', tokens: () => ['t'] }] });
    app.post('/api/v1/vms', { schema: { body: CreateVmRequest } }, async () => ({ ok: true }));
    await app.ready();
    try {
      for (const [workload, valid] of INPUTS) {
        const res = await app.inject({ method: 'POST', url: '/api/v1/vms', headers: { authorization: 'Bearer t' }, payload: { name: 'a', memoryMiB: 64, workload } });
        const api = res.statusCode === 200;
        if (!api) assert.equal(res.json().error.field, 'body.workload', JSON.stringify(workload));
        assert.equal(api, valid, `API on ${JSON.stringify(workload)}`);
        assert.equal(consoleAccepts(workload), valid, `console on ${JSON.stringify(workload)}`);
        assert.equal(cliAccepts(workload), valid, `CLI on ${JSON.stringify(workload)}`);
        assert.equal(isWorkload(workload), valid, `isWorkload on ${JSON.stringify(workload)}`);
      }
    } finally {
      await app.close();
    }
  });

  it('every example the console suggests is a workload', () => {
    for (const w of WORKLOAD_EXAMPLES) assert.ok(isWorkload(w), w);
  });

  it('the console\'s create form takes its field from this grammar, not a copy', () => {
    const form = readFileSync(new URL('../../../src/web-console/views/cluster.tsx', import.meta.url), 'utf8');
    const field = /<input data-testid="create-workload"[^>]*>/.exec(form)?.[0];
    assert.ok(field, 'the create form has a workload field');
    assert.match(field, /\{\.\.\.WORKLOAD_INPUT\}/);
    assert.doesNotMatch(field, /pattern=|maxLength=|title=/, 'no constraint of its own beside the shared ones');
  });
});
