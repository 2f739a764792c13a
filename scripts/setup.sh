#!/usr/bin/env bash
# Installs what Ferry needs on a Debian 12 machine with Node 20, idempotently:
#   - QEMU 10 from bookworm-backports (7.2 from bookworm main loses dirty pages in
#     pre-copy under TCG — see docs/qemu.md), qemu-utils
#   - busybox-static, Debian's cloud kernel and gcc: the demo guest image is built from them
#   - chromium, for the web console's end-to-end tests
#   - postgresql: `ferry up --controllers N --db postgres` starts its own server from Debian's
#     binaries in /usr/lib/postgresql/<major>/bin (never the distribution's cluster service)
#   - build tools for the one native npm dependency (better-sqlite3)
#   - debootstrap, e2fsprogs: the Debian test guest (build/debian/, guest/debian/build.sh)
#   - genisoimage: the NoCloud seed of a VM created with --cloud-init (src/agent/cloud-init-seed.ts)
#   - npm dependencies, the compiled TypeScript, and the guest images (build/guest/, build/debian/)
# Run as root. Each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "setup: $*" >&2; }
need_root() { [ "$(id -u)" = 0 ] || { echo "setup: run as root (apt-get is needed for: $*)" >&2; exit 1; }; }

qemu_major() {
  command -v qemu-system-x86_64 >/dev/null || { echo 0; return; }
  qemu-system-x86_64 --version | sed -n 's/^QEMU emulator version \([0-9]*\).*/\1/p'
}

apt_updated=0
apt_install() {
  need_root "$*"
  if [ "$apt_updated" = 0 ]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# --- Debian packages -------------------------------------------------------------------
if [ "$(qemu_major)" -lt 10 ] || ! command -v qemu-img >/dev/null; then
  need_root "QEMU 10"
  if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    log "adding bookworm-backports to apt sources"
    echo "deb http://deb.debian.org/debian bookworm-backports main" > /etc/apt/sources.list.d/ferry-backports.list
  fi
  log "installing QEMU 10 from bookworm-backports"
  apt_install -t bookworm-backports qemu-system-x86 qemu-utils
fi
[ "$(qemu_major)" -ge 10 ] || { echo "setup: QEMU 10 or newer is required, found $(qemu-system-x86_64 --version | head -1)" >&2; exit 1; }

missing=()
# The guest needs the static busybox (a dynamic one, e.g. from initramfs-tools, cannot run as /init).
dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
ls /boot/vmlinuz-*-cloud-amd64 >/dev/null 2>&1 || missing+=(linux-image-cloud-amd64)
# PostgreSQL's server binaries are not on PATH: look where Debian puts them (src/cli/local-postgres.ts).
postgres_bins() { ls /usr/lib/postgresql/*/bin/initdb /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; }
postgres_bins || missing+=(postgresql)
# rsync: only the DR benchmark's comparison column (bench/dr.ts). chromium: the web console's
# end-to-end tests drive Debian's browser with playwright-core (no browser download). faketime:
# its library steps the wall clock of the HA fault matrix's processes (test/e2e/ha-faults.test.ts).
# filefrag: where a DR checkpoint's files hold data (src/agent/dr/delta/extents.ts; without it
# every byte is read).
# Every external command the product, its tests, benchmarks and the guest build call, with the
# Debian package that has it. The same list is checked once more at the end.
COMMANDS=(cpio:cpio gzip:gzip xz:xz-utils zstd:zstd strip:binutils gcc:gcc make:make g++:g++ python3:python3
  ip:iproute2 ss:iproute2 bridge:iproute2 tc:iproute2 ping:iputils-ping curl:curl rsync:rsync chromium:chromium
  setpriv:util-linux mount:mount umount:mount getconf:libc-bin faketime:faketime debootstrap:debootstrap mke2fs:e2fsprogs
  genisoimage:genisoimage filefrag:e2fsprogs)
for pair in "${COMMANDS[@]}"; do
  command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
[ -f /usr/include/stdio.h ] || missing+=(libc6-dev)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  apt_install "${missing[@]}"
fi

# --- npm dependencies and build --------------------------------------------------------
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm dependencies"
  npm ci --no-audit --no-fund >/dev/null
fi
log "compiling TypeScript"
npm run --silent build

# --- the demo guest image --------------------------------------------------------------
bash guest/build.sh >/dev/null
# --- the Debian test guest (a real distribution: systemd + redis from Debian packages; cached) ---
log "building the Debian test guest (cached; the first build downloads ~60 MB of packages)"
bash guest/debian/build.sh
# --- nothing the tests call may be missing ----------------------------------------------
absent=()
for pair in "${COMMANDS[@]}" qemu-system-x86_64:qemu-system-x86 qemu-img:qemu-utils node:nodejs npm:npm; do
  command -v "${pair%%:*}" >/dev/null || absent+=("${pair%%:*} (${pair#*:})")
done
postgres_bins || absent+=("initdb and postgres in /usr/lib/postgresql/*/bin (postgresql)")
ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1 || absent+=("libfaketime.so.1 (libfaketime)")
[ ${#absent[@]} -eq 0 ] || { echo "setup: still missing after installing: ${absent[*]}" >&2; exit 1; }
log "ready (QEMU $(qemu-system-x86_64 --version | head -1 | awk '{print $4}'), guest images in build/guest/ and build/debian/)"
