#!/bin/bash
# Builds a real distribution guest for Ferry's tests from Debian packages: a minimal bookworm
# (debootstrap minbase + systemd + redis-server + qemu-guest-agent) on Debian's cloud kernel, with a small initrd of
# ours that loads the virtio modules and mounts the root disk. Output, in build/debian/ (or
# $FERRY_DEBIAN_OUT):
#   vmlinuz      the host's linux-image-cloud-amd64 kernel
#   initrd.img   busybox-static + the virtio modules; mounts /dev/vda (ext4) and switch_roots
#   rootfs.qcow2 the root file system (ext4 on the whole disk, no partition table)
# Boot with: -kernel vmlinuz -initrd initrd.img -append 'console=ttyS0 root=/dev/vda'
# The guest: static address 10.0.2.15/24 (QEMU user networking), redis on 6379 (no password,
# guest port forwarded by Ferry), qemu-guest-agent on its virtio-serial channel (started by udev
# when the VM has one: ferry vm create --guest-agent), and on its serial console a line `ferry-guest ready` once
# redis answers.
# Cached: does nothing when the output exists and this script and the kernel are unchanged.
# Needs root (debootstrap), debootstrap, busybox-static, cpio, gzip, e2fsprogs, qemu-utils, and
# a Debian mirror (FERRY_DEBIAN_MIRROR, default http://deb.debian.org/debian).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${FERRY_DEBIAN_OUT:-$ROOT/build/debian}
MIRROR=${FERRY_DEBIAN_MIRROR:-http://deb.debian.org/debian}
MODULES="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover net_failover virtio_net virtio_blk virtio_balloon virtio_console crc16 mbcache jbd2 ext4"
ROOTFS_MIB=1024

die() { echo "guest/debian/build.sh: error: $*" >&2; exit 1; }
for tool in debootstrap cpio gzip mke2fs qemu-img sha256sum; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found (scripts/setup.sh installs it)"
done
[ "$(id -u)" = 0 ] || die "run as root (debootstrap)"
KERNEL=$(ls -1 /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -n 1 || true)
[ -n "$KERNEL" ] || die "no /boot/vmlinuz-*-cloud-amd64 (install linux-image-cloud-amd64)"
KVER=${KERNEL##*/vmlinuz-}
MODDIR=/lib/modules/$KVER

STAMP=$( (sha256sum "${BASH_SOURCE[0]}"; echo "$KVER") | sha256sum | cut -c1-16)
if [ -f "$OUT/stamp" ] && [ "$(cat "$OUT/stamp")" = "$STAMP" ] && [ -f "$OUT/rootfs.qcow2" ]; then
  echo "guest/debian/build.sh: up to date ($OUT)" >&2
  exit 0
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ferry-debian.XXXXXX")
# debootstrap mounts /proc and /sys in the target while it configures packages: never remove through a mount.
cleanup() {
  for m in proc sys dev/pts dev; do mountpoint -q "$WORK/root/$m" 2>/dev/null && umount -l "$WORK/root/$m"; done
  rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT
mkdir -p "$OUT"

# ---- the root file system ----
echo "guest/debian/build.sh: debootstrap bookworm (minbase + systemd + redis) from $MIRROR" >&2
debootstrap --variant=minbase --include=systemd-sysv,udev,redis-server,iproute2,qemu-guest-agent bookworm "$WORK/root" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
  || { tail -20 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }
R=$WORK/root
echo ferry-debian > "$R/etc/hostname"
printf '/dev/vda / ext4 defaults 0 1\n' > "$R/etc/fstab"
# No password for root on the serial console (a test guest; nothing listens but redis).
sed -i 's/^root:[^:]*:/root::/' "$R/etc/shadow"
mkdir -p "$R/etc/systemd/network" "$R/etc/systemd/system/serial-getty@ttyS0.service.d"
printf '[Match]\nName=en* eth*\n\n[Network]\nAddress=10.0.2.15/24\nGateway=10.0.2.2\n' > "$R/etc/systemd/network/20-ferry.network"
ln -sf /lib/systemd/system/systemd-networkd.service "$R/etc/systemd/system/multi-user.target.wants/systemd-networkd.service"
printf '[Service]\nExecStart=\nExecStart=-/sbin/agetty --autologin root --noclear --keep-baud 115200 %%I vt220\n' > "$R/etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf"
sed -i 's/^bind .*/bind 0.0.0.0/; s/^protected-mode .*/protected-mode no/' "$R/etc/redis/redis.conf"
# Tests reload the dataset from disk (DEBUG RELOAD) to see that what was saved came along.
echo 'enable-debug-command yes' >> "$R/etc/redis/redis.conf"
# Tells the console (and a test reading it) that the service answers.
cat > "$R/etc/systemd/system/ferry-ready.service" <<'UNIT'
[Unit]
Description=Say on the serial console that redis answers
After=redis-server.service
Wants=redis-server.service
[Service]
Type=oneshot
ExecStart=/bin/sh -c 'for i in $(seq 1 120); do redis-cli ping 2>/dev/null | grep -q PONG && { echo "ferry-guest ready" > /dev/ttyS0; exit 0; }; sleep 0.5; done; exit 1'
[Install]
WantedBy=multi-user.target
UNIT
ln -sf /etc/systemd/system/ferry-ready.service "$R/etc/systemd/system/multi-user.target.wants/ferry-ready.service"
# Smaller and faster to boot: no apt caches, docs or timers that wake the disk.
rm -rf "$R/var/cache/apt/archives"/*.deb "$R/var/lib/apt/lists"/* "$R/usr/share/doc" "$R/usr/share/man" "$R/usr/share/locale"
rm -f "$R/etc/systemd/system/timers.target.wants"/*
# No virtual terminals (serial console only), no waiting for a network that is configured statically.
ln -sf /dev/null "$R/etc/systemd/system/getty@.service"
ln -sf /dev/null "$R/etc/systemd/system/systemd-networkd-wait-online.service"

truncate -s "${ROOTFS_MIB}M" "$WORK/rootfs.raw"
mke2fs -q -t ext4 -L ferry-root -d "$R" "$WORK/rootfs.raw"
qemu-img convert -O qcow2 "$WORK/rootfs.raw" "$OUT/rootfs.qcow2.tmp"
mv "$OUT/rootfs.qcow2.tmp" "$OUT/rootfs.qcow2"

# ---- the initrd: load the virtio and ext4 modules, mount the root disk, hand over ----
I=$WORK/initrd
mkdir -p "$I/bin" "$I/dev" "$I/proc" "$I/sys" "$I/newroot" "$I/lib/modules"
cp /bin/busybox "$I/bin/busybox"
for m in $MODULES; do
  p=$(find "$MODDIR/kernel" \( -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" \) 2>/dev/null | head -n 1)
  [ -n "$p" ] || continue # built in
  case "$p" in
    *.xz) xz -dc "$p" > "$I/lib/modules/$m.ko" ;;
    *.zst) zstd -qdc "$p" > "$I/lib/modules/$m.ko" ;;
    *) cp "$p" "$I/lib/modules/$m.ko" ;;
  esac
done
cat > "$I/init" <<INIT
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t devtmpfs dev /dev
for m in $MODULES; do [ -f /lib/modules/\$m.ko ] && /bin/busybox insmod /lib/modules/\$m.ko 2>/dev/null; done
for i in \$(/bin/busybox seq 1 50); do [ -b /dev/vda ] && break; /bin/busybox sleep 0.1; done
/bin/busybox mount -t ext4 /dev/vda /newroot || { echo "initrd: cannot mount /dev/vda"; exec /bin/busybox sh; }
/bin/busybox umount /proc /sys
/bin/busybox mount --move /dev /newroot/dev
exec /bin/busybox switch_root /newroot /sbin/init
INIT
chmod +x "$I/init"
(cd "$I" && find . | cpio -o -H newc --quiet | gzip -9) > "$OUT/initrd.img"
cp "$KERNEL" "$OUT/vmlinuz"
echo "$STAMP" > "$OUT/stamp"
echo "guest/debian/build.sh: built $OUT ($(du -sh "$OUT" | cut -f1))" >&2
