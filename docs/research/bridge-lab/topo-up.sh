#!/bin/bash
# Site topology for bridged guest networking across hosts (all in namespaces created here).
#   ferry-site : br-site  (the site "switch")  ports p-h1, p-h2, p-client
#   ferry-h1   : eth0 (veth to p-h1) enslaved to br0; br0 = 10.77.0.1/24 (host address)
#   ferry-h2   : eth0 (veth to p-h2) enslaved to br0; br0 = 10.77.0.2/24
#   ferry-client: eth0 (veth to p-client) 10.77.0.100/24
# Guests get taps (created here, persistent, owned by the "agent") enslaved to their host's br0.
set -euo pipefail
NS_SITE=ferry-site; HOSTS="h1 h2"
for n in $NS_SITE ferry-h1 ferry-h2 ferry-client; do
  if ip netns list | grep -qw "$n"; then echo "namespace $n exists: run topo-down.sh first" >&2; exit 1; fi
done
trap 'echo "topo-up failed; tearing down" >&2; "$(dirname "$0")/topo-down.sh"' ERR
ip netns add $NS_SITE
ip -n $NS_SITE link set lo up
ip -n $NS_SITE link add br-site type bridge stp_state 0 forward_delay 0
ip -n $NS_SITE link set br-site up
i=1
for h in $HOSTS; do
  ns=ferry-$h
  ip netns add $ns
  ip -n $ns link set lo up
  ip -n $ns link add eth0 type veth peer name p-$h netns $NS_SITE
  ip -n $NS_SITE link set p-$h master br-site up
  ip -n $ns link add br0 type bridge stp_state 0 forward_delay 0
  ip -n $ns link set eth0 master br0 up
  ip -n $ns addr add 10.77.0.$i/24 dev br0
  ip -n $ns link set br0 up
  i=$((i+1))
done
ip netns add ferry-client
ip -n ferry-client link set lo up
ip -n ferry-client link add eth0 type veth peer name p-client netns $NS_SITE
ip -n $NS_SITE link set p-client master br-site up
ip -n ferry-client addr add 10.77.0.100/24 dev eth0
ip -n ferry-client link set eth0 up
sleep 0.3
ip netns exec ferry-client ping -c1 -W1 10.77.0.1 >/dev/null
ip netns exec ferry-client ping -c1 -W1 10.77.0.2 >/dev/null
echo "topology up"
