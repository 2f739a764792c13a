// The OpenAPI document, generated from the route schemas. docs/openapi.json is this output,
// checked in; openapi.test.ts fails when it is stale (refresh: `node dist/src/controller/write-openapi.js`).
import { fileURLToPath } from 'node:url';
import { FerryError } from '../contracts/errors.js';
import { buildApp, type AppDeps } from './app.js';

/** docs/openapi.json of this checkout (from dist/src/controller/ or src/controller/). */
export const OPENAPI_FILE = fileURLToPath(new URL(`${import.meta.url.includes('/dist/') ? '../../../' : '../../'}docs/openapi.json`, import.meta.url));

export async function generateOpenApi(): Promise<Record<string, unknown>> {
  const app = await buildApp({
    adminToken: 'unused',
    deps: (): AppDeps => {
      throw new FerryError('INTERNAL', 'this app only describes the API');
    },
  });
  try {
    await app.ready();
    return app.swagger() as unknown as Record<string, unknown>;
  } finally {
    await app.close();
  }
}

export function formatOpenApi(doc: Record<string, unknown>): string {
  return `${JSON.stringify(doc, null, 2)}\n`;
}
