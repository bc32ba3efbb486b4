#!/bin/bash
# Build the busybox initramfs of the L1 VM (used by l1.sh; docs/nested-kvm.md).
#   mkinitramfs-l1.sh KDIR OUT    KDIR = DIR/l1 of scripts/fetch-kernels.sh
# Its /init loads KDIR/modules in the order of KDIR/modules.load, mounts the 9p shares that
# l1.sh exports (host = the host's / read-only, ctl = l1.sh's run dir, work = the read-write
# work dir), runs ctl/cmd with bash chrooted into the host's / and writes its exit status
# to ctl/status.
set -euo pipefail

die() { echo "mkinitramfs-l1: error: $*" >&2; exit 1; }
[ $# -eq 2 ] || die "usage: $0 KDIR OUT"
kdir=$1 out=$2
bb=$(command -v busybox) && ! ldd "$bb" >/dev/null 2>&1 ||
	die "need a static busybox (apt-get install busybox-static)"
[ -s "$kdir/modules.load" ] || die "$kdir/modules.load missing (run scripts/fetch-kernels.sh)"
command -v cpio >/dev/null || die "cpio not found"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,dev,proc,sys,host,ctl,modules}
cp "$bb" "$stage/bin/busybox"
ln -s busybox "$stage/bin/sh"
cp "$kdir/modules.load" "$stage/modules.load"
while read -r m; do cp "$kdir/modules/$m" "$stage/modules/"; done <"$kdir/modules.load"
# The kernel opens /dev/console for init before anything is mounted.
[ "$(id -u)" = 0 ] && mknod "$stage/dev/console" c 5 1

cat >"$stage/init" <<'INIT'
#!/bin/sh
export PATH=/bin
/bin/busybox --install -s /bin
msg() { echo "l1-init: $*" >/dev/console; }
fail() { msg "error: $*"; [ -d /ctl/. ] && echo "$*" >/ctl/error; sync; poweroff -f; sleep 10; }
p9() { mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,"$1" "$2" "$3"; }

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
while read -r m; do insmod "/modules/$m" || msg "warning: insmod $m failed"; done </modules.load

p9 rw ctl /ctl || fail "cannot mount the ctl share"
# cache=loose: host binaries are read through 9p over and over; / does not change under us.
p9 ro,cache=loose host /host || fail "cannot mount the host's / (9p tag host)"
mount -t proc proc /host/proc
mount -t sysfs sysfs /host/sys
mount -t devtmpfs devtmpfs /host/dev
mkdir -p /host/dev/pts /host/dev/shm
mount -t devpts devpts /host/dev/pts
for d in /host/dev/shm /host/tmp /host/run /host/var/tmp; do mount -t tmpfs tmpfs "$d"; done
# After the tmpfs mounts, so that a work dir under /tmp stays visible; cache=mmap so that
# shared writable mmap works.
read -r work </ctl/work
mkdir -p "/host$work" 2>/dev/null
p9 rw,cache=mmap work "/host$work" || fail "cannot mount the work dir $work"

# The command's stdout/stderr go to virtio-serial ports named by l1.sh, or in interactive
# mode everything goes to the console (ttyS0 = the user's terminal).
port() {
	for i in $(seq 50); do
		for d in /sys/class/virtio-ports/*; do
			[ "$(cat "$d/name" 2>/dev/null)" = "$1" ] && { echo "/dev/${d##*/}"; return; }
		done
		sleep 0.1
	done
	fail "virtio-serial port $1 not found"
}
if [ -e /ctl/interactive ]; then
	in=/dev/console out=/dev/console err=/dev/console tty="setsid cttyhack"
	read -r TERM </ctl/interactive
else
	in=/dev/null out=$(port corral.stdout) err=$(port corral.stderr) tty= TERM=dumb
fi
[ -c /dev/kvm ] || echo "l1: warning: no /dev/kvm in L1 (kvm-amd did not load)" >"$err"
# Loopback, for tests whose processes talk TCP to each other (migration).
ip link set lo up

# Keep one idle KVM VM (irqchip + one vCPU) open for L1's lifetime.  Each first VM and
# each last VM to go toggles static keys in L1's kernel (preempt notifiers, the LAPIC
# keys), and every toggle live-patches code such as __schedule on both vCPUs.  Under
# QEMU's multi-threaded TCG that patching froze L1 now and then (both vCPUs spinning
# in __schedule with interrupts off) when tests start and stop dozens of L2 VMs; with
# the counts held above zero the code is never patched again.
if [ -c /dev/kvm ]; then
	chroot /host /usr/bin/python3 -c '
import fcntl, os, signal
kvm = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
vm = fcntl.ioctl(kvm, 0xAE01, 0)     # KVM_CREATE_VM
fcntl.ioctl(vm, 0xAE60, 0)           # KVM_CREATE_IRQCHIP
fcntl.ioctl(vm, 0xAE41, 0)           # KVM_CREATE_VCPU 0
open("/run/l1-kvm-hold", "w").close()
signal.pause()' </dev/null >/dev/null 2>/dev/console &
	for i in $(seq 100); do [ -e /host/run/l1-kvm-hold ] && break; sleep 0.1; done
	[ -e /host/run/l1-kvm-hold ] || echo "l1: warning: could not keep an idle KVM VM open" >"$err"
fi

cut -d' ' -f1 /proc/uptime >/ctl/uptime
# A heartbeat l1.sh watches: when it stops, L1 has frozen (l1.sh --freeze).
( while :; do cut -d' ' -f1 /proc/uptime >/ctl/heartbeat; sleep 5; done ) &
$tty chroot /host /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	HOME=/root LANG=C.UTF-8 TERM="$TERM" CORRAL_L1=1 /bin/bash -c "$(cat /ctl/cmd)" \
	<"$in" >"$out" 2>"$err"
rc=$?
msg "command exited with status $rc"
echo $rc >/ctl/status
sync
poweroff -f
INIT
chmod +x "$stage/init"

mkdir -p "$(dirname "$out")"
(cd "$stage" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$out.tmp.$$"
mv "$out.tmp.$$" "$out"
