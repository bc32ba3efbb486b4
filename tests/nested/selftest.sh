#!/bin/bash
# Self-test of the nested-KVM harness (docs/nested-kvm.md): inside the L1 VM, QEMU with
# -enable-kvm boots Debian's stock cloud kernel with 2 vCPUs (microvm) to a busybox /init
# that must print "CORRAL-LINUX-OK cpus=2". Exit 0 pass, 1 fail, 77 skip (no QEMU).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd "$here/../.." && pwd -P)
assets=${CORRAL_ASSETS:-$repo/build/assets}

command -v qemu-system-x86_64 >/dev/null || { echo "selftest: SKIP: qemu-system-x86_64 not found"; exit 77; }
mkdir -p "$assets" && assets=$(cd "$assets" && pwd -P)
l2=$assets/l2/initramfs.cpio
if ! [ "$l2" -nt "$repo/tests/linux/mkinitramfs.sh" ]; then
	"$repo/tests/linux/mkinitramfs.sh" "$l2" || { echo "selftest: FAIL: cannot build $l2"; exit 1; }
fi

# rtc=on: without an RTC the kernel spends ~6 s probing for one. ACPI (microvm's default)
# is needed for the second vCPU and for poweroff to end QEMU.
# Sharing $assets makes the kernel and initramfs visible in L1 wherever $assets lives.
rc=0
out=$("$here/l1.sh" --share "$assets" --cwd "$assets" --timeout "${SELFTEST_TIMEOUT:-300}" -- bash -c '
	[ -c /dev/kvm ] || { echo "no /dev/kvm in L1"; exit 1; }
	start=$(date +%s%N)
	timeout 240 qemu-system-x86_64 -M microvm,rtc=on -enable-kvm -cpu host -smp 2 -m 256M \
		-kernel cloud/vmlinuz -initrd l2/initramfs.cpio -append "console=ttyS0 quiet" \
		-nographic -no-reboot </dev/null
	rc=$?
	echo "L2 round trip: $(( ($(date +%s%N) - start) / 1000000 )) ms"
	exit $rc' 2>&1) || rc=$?

line=$(grep -a -o 'CORRAL-LINUX-OK cpus=[0-9]* kernel=[^[:space:]]*' <<<"$out" || true)
if [ $rc = 0 ] && grep -q 'cpus=2 ' <<<"$line "; then
	echo "selftest: PASS: $line ($(grep -o 'L2 round trip: [0-9]* ms' <<<"$out"))"
	exit 0
fi
echo "selftest: FAIL (l1.sh exit status $rc); output:"
sed 's/^/  /' <<<"$out"
exit 1
