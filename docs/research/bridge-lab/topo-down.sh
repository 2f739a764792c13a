#!/bin/bash
# Tears down everything topo-up.sh / tap-add.sh / run-*.sh created. Safe to run twice.
# Kills only QEMU processes whose PIDs we recorded in run/*.pid.
D=$(cd "$(dirname "$0")" && pwd)
for f in "$D"/run/*.pid; do
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -qa qemu-system "/proc/$pid/cmdline" 2>/dev/null; then
    kill "$pid"; for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
done
for ns in ferry-h1 ferry-h2; do
  ip netns list | grep -qw $ns || continue
  # persistent taps are not freed by namespace deletion in every kernel: delete them explicitly
  for t in $(ip -n $ns -o link show type tun 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
    ip -n $ns link del "$t" || true
  done
done
for ns in ferry-client ferry-h1 ferry-h2 ferry-site; do
  ip netns list | grep -qw $ns && ip netns delete $ns
done
# verify nothing leaked into the root namespace
left=$(ip -o link show | grep -E ' (p-h[12]|p-client|br-site|fe[0-9a-f]{6}n[0-9])[:@]' || true)
[ -z "$left" ] || { echo "LEAK: $left" >&2; exit 1; }
echo "topology down"
