#!/usr/bin/env bash
# Installs what is missing (scripts/setup.sh), then runs every test: lint, unit tests and
# integration/end-to-end tests that boot real QEMU guests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run --silent lint
node scripts/run-tests.mjs all
