#!/usr/bin/env bash
# Brings up the demo: installs what is missing, starts a local cluster (controller + 3 host
# agents) in the background and creates a few VMs running the demo guest's workloads.
# Stop it all with `npx ferry down`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
ferry() { node bin/ferry.js "$@"; }

home=${FERRY_HOME:-$HOME/.ferry}
# As root the hosts get their own network namespaces and a site bridge, so a guest can keep its
# own address across migrations (docs/networking.md); an existing cluster is reused as it is.
net=user
[ "$(id -u)" = 0 ] && ip netns list >/dev/null 2>&1 && net=bridged
if [ -f "$home/cluster.json" ]; then ferry up; else ferry up --hosts "${FERRY_DEMO_HOSTS:-3}" --net "$net"; fi
bridged=$(node -e 'const c=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")); console.log(c.net?.mode === "bridged" ? 1 : 0)' "$home/cluster.json")
create() { ferry vm show "$1" --json >/dev/null 2>&1 || ferry vm create "$@"; }
create web1 --memory 256 --workload http
create db1 --memory 256 --workload dirty:16:64 --disk 256M
create batch1 --memory 192 --workload cpu
[ "$bridged" = 1 ] && create lan1 --memory 192 --workload http,echo --net bridged
ferry vm list
url=$(node -e 'const c=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")); console.log(c.url)' "$home/cluster.json")
cat <<TXT

The demo cluster is up. Open the web console at ${url}/ and log in with the admin token
in ${FERRY_HOME:-$HOME/.ferry}/admin-token. Or try:
  npx ferry host list                 # hosts and their load (CPU, net, memory, volume)
  npx ferry vm migrate db1 --to HOST  # live migration to another host, with a progress bar
  npx ferry metrics batch1            # its CPU history
  npx ferry balance status            # the balancer's view; npx ferry balance auto on
  npx ferry vm console db1 --follow   # the guest's heartbeat: ferry-heartbeat seq=N bad=0
  npx ferry vm pause db1 && npx ferry vm resume db1
  npx ferry vm suspend web1 && npx ferry vm restore web1
  npx ferry down                      # stops everything, leaves no process behind
TXT
if [ "$bridged" = 1 ]; then
  ip=$(node bin/ferry.js vm show lan1 --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).spec.nics[0].ip.split("/")[0]))')
  cat <<TXT
lan1 is bridged: it has its own address ${ip} on site main's segment, kept wherever it moves:
  npx ferry net exec main -- curl -s http://${ip}/     # from a client on the segment
  npx ferry vm migrate lan1 --to HOST                  # open connections to ${ip} stay open
TXT
fi
