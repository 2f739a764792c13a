#!/bin/bash
# Builds Ferry's demo guest: build/guest/vmlinuz and build/guest/initrd.img.
# Incremental: does nothing when the sources, this script, busybox and the kernel are
# unchanged. Installs nothing; prerequisites come from the project's set-up script
# (linux-image-cloud-amd64, busybox-static, gcc + libc6-dev, cpio, gzip).
# Environment: FERRY_GUEST_OUT (output dir, default <repo>/build/guest),
#              FERRY_GUEST_KERNEL (a vmlinuz to use instead of the newest cloud kernel),
#              FERRY_GUEST_FORCE=1 (rebuild even if up to date).
set -euo pipefail

GUEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$GUEST_DIR/.." && pwd)
OUT=${FERRY_GUEST_OUT:-$ROOT/build/guest}
MODULES="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover net_failover virtio_net virtio_blk virtio_balloon evdev button"

die() { echo "guest/build.sh: error: $*" >&2; exit 1; }

# ---- prerequisites ----
for tool in gcc cpio gzip sha256sum find sort; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found (install it: apt-get install gcc libc6-dev cpio gzip)"
done
BUSYBOX=${FERRY_GUEST_BUSYBOX:-/bin/busybox}
[ -x "$BUSYBOX" ] || die "$BUSYBOX not found (install busybox-static)"
if command -v file >/dev/null 2>&1 && ! file -L "$BUSYBOX" | grep -q 'statically linked'; then
  die "$BUSYBOX is not statically linked (install busybox-static, not busybox)"
fi

if [ -n "${FERRY_GUEST_KERNEL:-}" ]; then
  KERNEL=$FERRY_GUEST_KERNEL
else
  KERNEL=$(ls -1 /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -n 1 || true)
fi
[ -n "$KERNEL" ] && [ -f "$KERNEL" ] || die "kernel ${KERNEL:-/boot/vmlinuz-*-cloud-amd64} not found (install linux-image-cloud-amd64)"
[ -r "$KERNEL" ] || die "$KERNEL is not readable (run as root or make it readable)"
KVER=${KERNEL##*/vmlinuz-}
MODDIR=/lib/modules/$KVER
[ -d "$MODDIR" ] || die "modules for kernel $KVER not found in $MODDIR"

# resolve every module (possibly compressed)
declare -A MODPATH
for m in $MODULES; do
  p=$(find "$MODDIR/kernel" \( -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" -o -name "$m.ko.gz" \) 2>/dev/null | head -n 1)
  [ -n "$p" ] || die "kernel module $m not found under $MODDIR"
  case "$p" in
    *.ko.xz) command -v xz >/dev/null || die "$p is xz-compressed and xz is missing" ;;
    *.ko.zst) command -v zstd >/dev/null || die "$p is zstd-compressed and zstd is missing" ;;
  esac
  MODPATH[$m]=$p
done

# gcc -static needs the static libc
echo 'int main(void){return 0;}' > "${TMPDIR:-/tmp}/ferry-static-probe.$$.c"
if ! gcc -static -o "${TMPDIR:-/tmp}/ferry-static-probe.$$" "${TMPDIR:-/tmp}/ferry-static-probe.$$.c" 2>/dev/null; then
  rm -f "${TMPDIR:-/tmp}/ferry-static-probe.$$"*
  die "gcc cannot link static programs (install libc6-dev)"
fi
rm -f "${TMPDIR:-/tmp}/ferry-static-probe.$$"*

# ---- up to date? ----
mkdir -p "$OUT"
STAMP=$( {
  sha256sum "$GUEST_DIR/build.sh" "$GUEST_DIR/init" "$GUEST_DIR/src/ferry-guest.c" "$BUSYBOX"
  stat -L -c '%n %s %Y' "$KERNEL"
  for m in $MODULES; do stat -L -c '%n %s %Y' "${MODPATH[$m]}"; done
  gcc --version | head -n 1
} | sha256sum | cut -d' ' -f1)

if [ "${FERRY_GUEST_FORCE:-0}" != 1 ] && [ -f "$OUT/vmlinuz" ] && [ -f "$OUT/initrd.img" ] &&
   [ -f "$OUT/.stamp" ] && [ "$(cat "$OUT/.stamp")" = "$STAMP" ]; then
  echo "guest image up to date (kernel $KVER)"
  echo "kernel: $OUT/vmlinuz"
  echo "initrd: $OUT/initrd.img"
  exit 0
fi

# ---- build ----
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ferry-guest-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
R=$WORK/root
mkdir -p "$R"/{bin,sbin,dev,proc,sys,run,tmp,etc,lib/modules/ferry}

echo "compiling ferry-guest"
gcc -static -O2 -Wall -Wextra -o "$R/bin/ferry-guest" "$GUEST_DIR/src/ferry-guest.c"
strip "$R/bin/ferry-guest" 2>/dev/null || true

cp "$BUSYBOX" "$R/bin/busybox"
for applet in $("$BUSYBOX" --list); do
  [ -e "$R/bin/$applet" ] || ln -s busybox "$R/bin/$applet"
done
install -m 0755 "$GUEST_DIR/init" "$R/init"

for m in $MODULES; do
  p=${MODPATH[$m]}
  case "$p" in
    *.ko.xz) xz -dc "$p" > "$R/lib/modules/ferry/$m.ko" ;;
    *.ko.zst) zstd -qdc "$p" > "$R/lib/modules/ferry/$m.ko" ;;
    *.ko.gz) gzip -dc "$p" > "$R/lib/modules/ferry/$m.ko" ;;
    *) cp "$p" "$R/lib/modules/ferry/$m.ko" ;;
  esac
done

# the kernel opens /dev/console for init before /init mounts devtmpfs
if [ "$(id -u)" = 0 ]; then
  mknod -m 600 "$R/dev/console" c 5 1
  mknod -m 666 "$R/dev/null" c 1 3
fi

echo "packing initramfs"
(cd "$R" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) | gzip -9 > "$OUT/initrd.img.tmp"
mv "$OUT/initrd.img.tmp" "$OUT/initrd.img"
cp "$KERNEL" "$OUT/vmlinuz.tmp"
mv "$OUT/vmlinuz.tmp" "$OUT/vmlinuz"
echo "$STAMP" > "$OUT/.stamp"

echo "guest image built (kernel $KVER, initrd $(du -k "$OUT/initrd.img" | cut -f1) KiB)"
echo "kernel: $OUT/vmlinuz"
echo "initrd: $OUT/initrd.img"
