#!/bin/bash
# Build a busybox initramfs for an L2 Linux guest (docs/nested-kvm.md).
#   mkinitramfs.sh [--shell] [--modules KDIR] OUT
# Its /init loads the modules listed in KDIR/modules.load (passing each its
# parameters from the kernel command line, as modprobe would), prints one line,
#   CORRAL-LINUX-OK cpus=<online CPUs> kernel=<uname -r> vda=<yes|no> hwrng=<current rng>
# to the console, then ends as the kernel command line asks:
#   corral.exit=poweroff (default) | reboot   poweroff -f / reboot -f
#   corral.exit=cad     waits for Ctrl-Alt-Del, prints CORRAL-LINUX-CAD, powers off
#   corral.exit=memcheck / busy   loops for snapshot and migration tests (below)
# With --shell it runs an interactive sh on the console first.
# corral.ip=ADDR/LEN gives eth0 that address and starts a TCP echo server on
# port 7000 (one process per connection), for tests of a guest's connections.
set -euo pipefail

die() { echo "mkinitramfs: error: $*" >&2; exit 1; }
shell=0 kdir=
while [ $# -gt 1 ]; do
	case $1 in
	--shell) shell=1; shift ;;
	--modules) kdir=${2:?}; shift 2 ;;
	*) break ;;
	esac
done
[ $# -eq 1 ] || die "usage: $0 [--shell] [--modules KDIR] OUT"
out=$1
bb=$(command -v busybox) && ! ldd "$bb" >/dev/null 2>&1 ||
	die "need a static busybox (apt-get install busybox-static)"
command -v cpio >/dev/null || die "cpio not found"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,dev,proc,sys,tmp,lib/modules}
cp "$bb" "$stage/bin/busybox"
ln -s busybox "$stage/bin/sh"
# The kernel opens /dev/console for init before anything is mounted.
[ "$(id -u)" = 0 ] && mknod "$stage/dev/console" c 5 1
if [ -n "$kdir" ]; then
	[ -s "$kdir/modules.load" ] || die "$kdir/modules.load not found"
	cp "$kdir"/modules/*.ko "$kdir/modules.load" "$stage/lib/modules/"
fi

cat >"$stage/init" <<'INIT'
#!/bin/sh
export PATH=/bin
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
cmdline=$(cat /proc/cmdline)
for ko in $(cat /lib/modules/modules.load 2>/dev/null); do
	name=$(echo "${ko%.ko}" | tr - _) args=
	for w in $cmdline; do
		case $w in "$name".*) args="$args ${w#"$name".}" ;; esac
	done
	insmod "/lib/modules/$ko" $args
done
sleep 0.2
for w in $cmdline; do
	case $w in
	corral.ip=*)
		ip link set lo up
		ip link set eth0 up
		ip addr add "${w#corral.ip=}" dev eth0
		nc -ll -p 7000 -e cat &
		;;
	esac
done
vda=no; [ -b /dev/vda ] && vda=yes
echo "CORRAL-LINUX-OK cpus=$(grep -c '^processor' /proc/cpuinfo) kernel=$(uname -r) vda=$vda hwrng=$(cat /sys/class/misc/hw_random/rng_current 2>/dev/null)"
INIT
if [ $shell = 1 ]; then
	# A NIC gets its address, route and name server by DHCP (corrald's
	# networks run dnsmasq), quietly in the background; then the shell, where
	# cttyhack gives it a controlling tty, so that job control and ^C work.
	cat >"$stage/bin/dhcp-event" <<'DHCP'
#!/bin/sh
# udhcpc's event script: $interface, $ip, $mask (prefix length), $router, $dns.
case $1 in
deconfig) ip link set "$interface" up; ip addr flush dev "$interface" ;;
bound | renew)
	ip addr flush dev "$interface"
	ip addr add "$ip/${mask:-24}" dev "$interface"
	[ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
	for d in $dns; do echo "nameserver $d"; done >/etc/resolv.conf ;;
esac
DHCP
	chmod +x "$stage/bin/dhcp-event"
	mkdir -p "$stage/etc"
	cat >>"$stage/init" <<'INIT'
ip link set lo up
for nic in /sys/class/net/eth*; do
	[ -e "$nic" ] && udhcpc -i "${nic##*/}" -q -t 10 -T 2 -A 5 -s /bin/dhcp-event >/dev/null 2>&1 &
done
setsid cttyhack sh -l
INIT
fi
cat >>"$stage/init" <<'INIT'
case " $cmdline " in
*" corral.exit=reboot "*) reboot -f ;;
*" corral.exit=cad "*)
	# Ctrl-Alt-Del as a signal to init, not an immediate kernel restart.
	echo 0 >/proc/sys/kernel/ctrl-alt-del
	trap 'echo CORRAL-LINUX-CAD; poweroff -f' INT
	echo CORRAL-LINUX-WAITING
	while :; do sleep 1; done ;;
*" corral.exit=busy "*)
	# For migration benchmarks (bench/vmm-state): 64 MiB of tmpfs rewritten
	# over and over, as fast as the guest can, and its clock printed in a
	# stream, "CORRAL-LINUX-T UPTIME", one line every ~10 ms: the largest
	# step between two lines is the longest stop the guest lived through.
	(while :; do dd if=/dev/zero of=/tmp/busy bs=1M count=64 conv=notrunc 2>/dev/null; done) &
	while :; do echo "CORRAL-LINUX-T $(cut -d' ' -f1 /proc/uptime)"; sleep 0.01; done ;;
*" corral.exit=memcheck "*)
	# For snapshot/restore and migration tests: 32 MiB of random bytes in
	# tmpfs (guest RAM) whose checksum is verified every pass, a record on
	# the disk written once, the pass number written (synced) to the disk's
	# second 4 KiB every pass, and the uptime, which must never go back.
	# Ctrl-Alt-Del ends it cleanly, as in corral.exit=cad.
	echo 0 >/proc/sys/kernel/ctrl-alt-del
	trap 'echo CORRAL-LINUX-CAD; poweroff -f' INT
	dd if=/dev/urandom of=/tmp/blob bs=1M count=32 2>/dev/null
	sum=$(md5sum </tmp/blob)
	[ -b /dev/vda ] && echo "disk-record-$sum" | dd of=/dev/vda conv=fsync 2>/dev/null
	n=0 last=0
	while :; do
		n=$((n + 1))
		[ "$(md5sum </tmp/blob)" = "$sum" ] || echo "CORRAL-LINUX-MEMFAIL pass $n"
		up=$(cut -d' ' -f1 /proc/uptime)
		[ "${up%.*}" -ge "$last" ] || echo "CORRAL-LINUX-TIMEFAIL $up < $last"
		last=${up%.*}
		echo "CORRAL-LINUX-PASS $n up=$up"
		[ -b /dev/vda ] && echo "pass-$n." | dd of=/dev/vda bs=4096 seek=1 conv=fsync 2>/dev/null
		sleep 0.2
	done ;;
esac
poweroff -f
INIT
chmod +x "$stage/init"

mkdir -p "$(dirname "$out")"
(cd "$stage" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$out.tmp.$$"
mv "$out.tmp.$$" "$out"
