#!/usr/bin/env bash
# Brings up the demo: installs what is missing, starts a local cluster (controller + 3 host
# agents) in the background and creates a few VMs running the demo guest's workloads.
# Stop it all with `npx ferry down`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
ferry() { node bin/ferry.js "$@"; }

ferry up --hosts "${FERRY_DEMO_HOSTS:-3}"
create() { ferry vm show "$1" --json >/dev/null 2>&1 || ferry vm create "$@"; }
create web1 --memory 256 --workload http
create db1 --memory 256 --workload dirty:16:64 --disk 256M
create batch1 --memory 192 --workload cpu
ferry vm list
cat <<'TXT'

The demo cluster is up. Try:
  npx ferry host list                 # hosts and their load
  npx ferry vm console db1 --follow   # the guest's heartbeat: ferry-heartbeat seq=N bad=0
  npx ferry vm pause db1 && npx ferry vm resume db1
  npx ferry vm suspend web1 && npx ferry vm restore web1
  npx ferry down                      # stops everything, leaves no process behind
TXT
