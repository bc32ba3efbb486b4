#!/bin/bash
# Build a busybox initramfs for an L2 Linux guest (docs/nested-kvm.md).
#   mkinitramfs.sh [--shell] OUT
# Its /init prints one line, "CORRAL-LINUX-OK cpus=<online CPUs> kernel=<uname -r>", to the
# console and powers off; with --shell it then runs an interactive sh on the console instead
# (powering off when that shell exits).
set -euo pipefail

die() { echo "mkinitramfs: error: $*" >&2; exit 1; }
shell=0
[ "${1:-}" = --shell ] && { shell=1; shift; }
[ $# -eq 1 ] || die "usage: $0 [--shell] OUT"
out=$1
bb=$(command -v busybox || true)
[ -n "$bb" ] && ! ldd "$bb" >/dev/null 2>&1 || die "need a static busybox (apt-get install busybox-static)"
command -v cpio >/dev/null || die "cpio not found"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,dev,proc,sys,tmp}
cp "$bb" "$stage/bin/busybox"
ln -s busybox "$stage/bin/sh"
# The kernel opens /dev/console for init before anything is mounted.
[ "$(id -u)" = 0 ] && mknod "$stage/dev/console" c 5 1

cat >"$stage/init" <<'INIT'
#!/bin/sh
export PATH=/bin
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "CORRAL-LINUX-OK cpus=$(grep -c '^processor' /proc/cpuinfo) kernel=$(uname -r)"
INIT
if [ $shell = 1 ]; then
	# cttyhack gives the shell a controlling tty, so that job control and ^C work.
	echo 'setsid cttyhack sh -l' >>"$stage/init"
fi
echo 'poweroff -f' >>"$stage/init"
chmod +x "$stage/init"

mkdir -p "$(dirname "$out")"
(cd "$stage" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$out.tmp"
mv "$out.tmp" "$out"
