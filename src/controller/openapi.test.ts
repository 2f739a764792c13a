import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { formatOpenApi, generateOpenApi, OPENAPI_FILE } from './openapi.js';

describe('OpenAPI document', () => {
  it('docs/openapi.json matches the route schemas', async () => {
    const fresh = formatOpenApi(await generateOpenApi());
    let checkedIn = '';
    try {
      checkedIn = readFileSync(OPENAPI_FILE, 'utf8');
    } catch {
      // missing counts as stale
    }
    assert.ok(
      checkedIn === fresh,
      `${OPENAPI_FILE} is stale: refresh it with \`npx tsc -p tsconfig.json && node dist/src/controller/write-openapi.js\` and commit it`,
    );
  });

  it('describes every route with the bearer scheme', async () => {
    const doc = (await generateOpenApi()) as { paths: Record<string, unknown>; security: unknown; components: { securitySchemes: unknown } };
    assert.deepEqual(doc.security, [{ bearer: [] }]);
    assert.deepEqual(doc.components.securitySchemes, { bearer: { type: 'http', scheme: 'bearer' } });
    for (const p of ['/api/v1/vms', '/api/v1/vms/{name}/stop', '/api/v1/tasks/{id}/abort', '/api/v1/events', '/internal/v1/heartbeat', '/api/v1/status']) {
      assert.ok(doc.paths[p], `missing ${p}`);
    }
  });
});
