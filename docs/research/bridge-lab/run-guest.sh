#!/bin/bash
# run-guest.sh HOST NAME TAP [incoming]  — start the demo guest's QEMU inside ferry-HOST,
# on tap TAP (must exist: tap-add.sh), fixed MAC and IP. QMP: run/NAME.qmp, console: run/NAME.console
set -euo pipefail
D=$(cd "$(dirname "$0")" && pwd)
host=$1; name=$2; tap=$3; mode=${4:-}
MAC=${MAC:-52:54:00:77:00:10}; IP=${IP:-10.77.0.10/24}
GUEST=${GUEST:-$D/guest-out}
WL=${WL:-http,echo,dirty:8:32}
NIC_EXTRA=${NIC_EXTRA:-}
args=(-name "$name,process=ferry-$name" -nodefaults -no-user-config -display none -no-reboot
  -machine q35 -accel tcg -cpu max -smp 1 -m 256M
  -daemonize -pidfile "$D/run/$name.pid"
  -qmp "unix:$D/run/$name.qmp,server=on,wait=off"
  -chardev "socket,id=ser0,path=$D/run/$name.ser,server=on,wait=off,logfile=$D/run/$name.console,logappend=on"
  -serial chardev:ser0
  -kernel "$GUEST/vmlinuz" -initrd "$GUEST/initrd.img"
  -append "console=ttyS0 quiet panic=-1 ferry.workload=$WL ferry.ip=$IP ferry.gw= ${APPEND_EXTRA:-}"
  -netdev "tap,id=net0,ifname=$tap,script=no,downscript=no,vhost=off"
  -device "virtio-net-pci,netdev=net0,mac=$MAC,romfile=$NIC_EXTRA")
[ "$mode" = incoming ] && args+=(-incoming defer)
ip netns exec ferry-$host qemu-system-x86_64 "${args[@]}"
echo "started $name in ferry-$host pid $(cat "$D/run/$name.pid")"
