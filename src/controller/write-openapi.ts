// Writes docs/openapi.json from the route schemas. Run after changing a route or a wire schema:
//   npx tsc -p tsconfig.json && node dist/src/controller/write-openapi.js
import { writeFileSync } from 'node:fs';
import { OPENAPI_FILE, formatOpenApi, generateOpenApi } from './openapi.js';

const doc = await generateOpenApi();
writeFileSync(OPENAPI_FILE, formatOpenApi(doc));
process.stdout.write(`wrote ${OPENAPI_FILE}\n`);
