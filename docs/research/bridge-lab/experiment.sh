#!/bin/bash
# experiment.sh MODE [SECONDS] — one live migration h1 -> h2 of the guest on the bridged site,
# with a client probing from ferry-client. MODE: explicit | auto | none (see migrate.mjs).
# Needs topo-up.sh done. Leaves the topology up, removes its guests and taps.
set -uo pipefail
D=$(cd "$(dirname "$0")" && pwd); cd "$D"
MODE=$1; SECS=${2:-20}; TAP=fe770010n0; OUT=$D/results/$MODE-$(date +%H%M%S); mkdir -p "$OUT"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for n in vm-src vm-dst; do
    [ -f run/$n.pid ] && { p=$(cat run/$n.pid); grep -qa qemu-system /proc/$p/cmdline 2>/dev/null && kill "$p"; rm -f run/$n.pid; }
  done
  sleep 0.5
  ip -n ferry-h1 link del $TAP 2>/dev/null; ip -n ferry-h2 link del $TAP 2>/dev/null
}
trap cleanup EXIT
rm -f run/vm-src.console run/vm-dst.console
./tap-add.sh h1 $TAP && ./run-guest.sh h1 vm-src $TAP || exit 1
./tap-add.sh h2 $TAP && ./run-guest.sh h2 vm-dst $TAP incoming || exit 1
for i in $(seq 100); do ip netns exec ferry-client ping -c1 -W1 10.77.0.10 >/dev/null 2>&1 && break; sleep 0.3; done
echo "guest up: $(grep -c heartbeat run/vm-src.console) heartbeats"
# FDB watcher on the site switch and on each host bridge (timestamps in ms)
for ns in ferry-site ferry-h1 ferry-h2; do
  { ip netns exec $ns bridge monitor fdb & echo $! > "$OUT/fdbmon-$ns.pid"; wait; } |
    while read -r l; do echo "$(date +%s%3N) $l"; done > "$OUT/fdb-$ns.log" 2>&1 &
done
sleep 0.2; for ns in ferry-site ferry-h1 ferry-h2; do PIDS+=($(cat "$OUT/fdbmon-$ns.pid")); done
startping() { date +%s%3N > "$OUT/ping-start.txt"; ip netns exec ferry-client ping -D -n -i ${PING_INTERVAL:-0.01} -W 1 10.77.0.10 > "$OUT/ping.log" 2>&1 & PIDS+=($!); }
[ "${PING_AFTER:-0}" = 1 ] || startping
ip netns exec ferry-h2 python3 sniff.py $TAP 52:54:00:77:00:10 8 > "$OUT/sniff-h2.log" 2>&1 & PIDS+=($!)
if [ "${PROBE:-1}" = 1 ]; then
  ip netns exec ferry-client node probe.mjs 10.77.0.10 "$SECS" "$OUT/probe.json" > /dev/null & PROBE=$!
else
  echo '{"echo":{"survived":null,"maxGapMs":null,"gapAt":null,"outOfOrder":0,"lastEchoed":0,"lastSent":0,"closed":null},"http":{"maxGapMs":null,"fail":0,"ok":0}}' > "$OUT/probe.json"
  (sleep "$SECS") & PROBE=$!
fi
ip netns exec ferry-site bridge fdb show br br-site | grep -i 52:54:00:77 > "$OUT/fdb-before.txt"
sleep 4
node migrate.mjs run/vm-src.qmp run/vm-dst.qmp tcp:10.77.0.2:4444 "$MODE" "$OUT/migrate.json" > /dev/null
rm -f run/vm-src.pid
[ "${PING_AFTER:-0}" = 1 ] && { sleep 1; startping; }
ip -n ferry-h1 link del $TAP   # the source agent discards its copy: QEMU quit, tap removed
wait $PROBE
ip netns exec ferry-site bridge fdb show br br-site | grep -i 52:54:00:77 > "$OUT/fdb-after.txt"
for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; PIDS=()
sleep 0.2  # the fdb readers end when their monitor is gone
tail -2 run/vm-dst.console > "$OUT/console-tail.txt"
grep -h heartbeat run/vm-src.console run/vm-dst.console | sed -E 's/.*seq=([0-9]+) bad=([0-9]+).*/\1 \2/' > "$OUT/seqs.txt"
python3 analyze.py "$OUT"
