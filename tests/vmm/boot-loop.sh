#!/bin/bash
# Boots Debian's cloud kernel under corral-vmm N times (2 vCPUs, the control
# API on, as tests/vmm/linux.sh's graceful-shutdown check does) and counts
# the boots that do not reach user space.  For rare boot failures: with
# --trace, the kvm tracepoints of each failed boot are kept (the last events
# before a triple fault show what the vCPU was doing).  Needs a hardware-
# assisted /dev/kvm; on hosts without one run it inside the nested L1:
#   tests/nested/l1.sh --timeout 5000 -- tests/vmm/boot-loop.sh [--trace] N BUILD_DIR
# Output: one line per boot, and failed boots' logs (and traces) in BUILD_DIR/boot-loop/.
set -uo pipefail

trace=0
[ "${1:-}" = --trace ] && { trace=1; shift; }
n=${1:-20}
build=$(cd "${2:-build}" && pwd)
assets=${CORRAL_ASSETS:-$build/assets}
out=$build/boot-loop
mkdir -p "$out"
work=$(mktemp -d /tmp/boot-loop.XXXXXX)
trap 'rm -rf "$work"' EXIT
T=/sys/kernel/tracing
if [ $trace = 1 ]; then
	mountpoint -q $T || mount -t tracefs none $T || exit 1
	echo 0 >$T/tracing_on
	echo 30000 >$T/buffer_size_kb
	echo 1 >$T/events/kvm/enable
	echo 0 >$T/events/kvm/kvm_entry/enable
fi
fails=0
for ((i = 1; i <= n; i++)); do
	[ $trace = 1 ] && { echo >$T/trace; echo 1 >$T/tracing_on; }
	s=$SECONDS
	"$build/corral-vmm" --kernel "$assets/cloud/vmlinuz" --initrd "$assets/linux-initramfs.cpio" \
		--memory 512M --cpus 2 --no-reboot --cmdline "console=ttyS0 panic=-1 corral.exit=cad" \
		--api-socket "$work/api.sock" </dev/null >"$work/log" 2>&1 &
	p=$!
	for ((j = 0; j < 1200; j++)); do
		grep -q CORRAL-LINUX-WAITING "$work/log" && break
		kill -0 $p 2>/dev/null || break
		sleep 0.25
	done
	[ $trace = 1 ] && echo 0 >$T/tracing_on
	kill $p 2>/dev/null
	wait $p
	if grep -q CORRAL-LINUX-WAITING "$work/log"; then
		echo "boot $i: ok ($((SECONDS - s)) s)"
	else
		fails=$((fails + 1))
		echo "boot $i: FAILED ($((SECONDS - s)) s): $(grep -m1 'corral-vmm:' "$work/log")"
		cp "$work/log" "$out/fail-$i.log"
		[ $trace = 1 ] && cat $T/trace >"$out/trace-$i.txt"
	fi
done
echo "$((n - fails)) of $n boots reached user space"
[ $fails = 0 ]
