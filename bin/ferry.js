#!/usr/bin/env node
// Entry point for `ferry` and `npx ferry`: runs the compiled CLI (see `npm run build`).
import('../dist/src/cli/main.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND') {
    console.error('ferry: not built yet; run `npm run build` (or scripts/setup.sh) first');
    process.exit(1);
  }
  throw err;
});
