#!/bin/bash
# tap-add.sh HOST TAP  — what the host agent would do before starting QEMU (source or target):
# a persistent tap in the host's namespace, enslaved to the host bridge, up.
set -euo pipefail
ns=ferry-$1; tap=$2
ip -n $ns tuntap add dev $tap mode tap vnet_hdr
ip -n $ns link set $tap master br0 up
