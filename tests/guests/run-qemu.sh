#!/bin/bash
# Boots one test guest under QEMU (TCG by default) and waits for its final
# "CORRAL-TEST PASS|FAIL" line, then stops QEMU.  For debugging the guests
# without corral-vmm and without /dev/kvm; see README.md.
set -euo pipefail

usage() {
	cat >&2 <<-USAGE
	usage: $0 [options] IMAGE [-- QEMU-ARGS...]
	  -m, --machine M    microvm (default; has virtio-mmio) or pc (has an i8042)
	  -a, --append STR   kernel command line
	  -i, --input STR    bytes for the serial port (printf %b escapes, e.g. 'hello\\n')
	  -s, --smp N        number of CPUs
	  -t, --timeout SEC  give up after SEC seconds (default 60)
	  --blk FILE         virtio-blk backed by the raw FILE
	  --blk-ro FILE      the same, read-only
	  --blk-new SIZE     virtio-blk on a new scratch file of SIZE (e.g. 1M)
	  --blk-ro-new SIZE  the same, read-only
	  --net              virtio-net on a UDP socket answered by net-peer.py
	  --console STR      virtio-console; STR (printf %b) is typed into it
	  --rng              virtio-rng
	  --reboot           let the guest reset the machine (no -no-reboot)
	  --kvm              use KVM instead of TCG
	  -e, --expect TEXT  succeed iff the final line starts with TEXT instead
	  -q, --quiet        print only the final line
	exit status: 0 PASS (or --expect met), 1 FAIL, 124 no final line in time,
	2 usage or setup error
	USAGE
	exit 2
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
machine=microvm append= input= smp=1 timeout=60 quiet=0 reboot=0 accel=tcg expect=
devices=() new_disks=() net=0 console_input= console=0
while [ $# -gt 0 ]; do
	case $1 in
	-m | --machine) machine=${2:?}; shift 2 ;;
	-a | --append) append=${2?}; shift 2 ;;
	-i | --input) input=${2?}; shift 2 ;;
	-s | --smp) smp=${2:?}; shift 2 ;;
	-t | --timeout) timeout=${2:?}; shift 2 ;;
	--blk | --blk-ro)
		ro=; [ "$1" = --blk-ro ] && ro=,readonly=on
		n=${#devices[@]}
		devices+=(-drive "file=${2:?},if=none,format=raw,id=disk$n$ro" -device "virtio-blk-device,drive=disk$n,serial=corral-test-disk")
		shift 2 ;;
	--blk-new | --blk-ro-new)
		ro=; [ "$1" = --blk-ro-new ] && ro=,readonly=on
		n=${#devices[@]}
		new_disks+=("disk$n.img:${2:?}")
		devices+=(-drive "file=@TMP@/disk$n.img,if=none,format=raw,id=disk$n$ro" -device "virtio-blk-device,drive=disk$n,serial=corral-test-disk")
		shift 2 ;;
	--net) net=1; shift ;;
	--console) console=1; console_input=${2?}; shift 2 ;;
	--rng) devices+=(-device virtio-rng-device); shift ;;
	--reboot) reboot=1; shift ;;
	--kvm) accel=kvm; shift ;;
	-e | --expect) expect=${2:?}; shift 2 ;;
	-q | --quiet) quiet=1; shift ;;
	--) break ;;
	-*) usage ;;
	*) [ -z "${image:-}" ] || usage; image=$1; shift ;;
	esac
done
[ -n "${image:-}" ] || usage
[ "${1:-}" = -- ] && shift
[ -r "$image" ] || { echo "run-qemu: cannot read $image" >&2; exit 2; }

case $machine in
microvm) mach=(-M microvm,acpi=off,rtc=on -global virtio-mmio.force-legacy=false) ;;
pc) mach=(-M pc) ;;
*) mach=(-M "$machine") ;;
esac
[ ${#devices[@]} -eq 0 ] && [ $net -eq 0 ] && [ $console -eq 0 ] || [ "$machine" = microvm ] ||
	{ echo "run-qemu: virtio-mmio devices need --machine microvm" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/corral-guest.XXXXXX")
qpid= peer_pid=
cleanup() {
	[ -n "$qpid" ] && kill -9 "$qpid" 2>/dev/null || true
	[ -n "$peer_pid" ] && kill "$peer_pid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

for d in "${new_disks[@]}"; do
	truncate -s "${d#*:}" "$tmp/${d%%:*}"
done
devices=("${devices[@]//@TMP@/$tmp}")

if [ $net -eq 1 ]; then
	python3 "$here/net-peer.py" --udp 127.0.0.1:0 --port-file "$tmp/peer.port" --timeout "$timeout" >"$tmp/peer.log" 2>&1 &
	peer_pid=$!
	for _ in $(seq 50); do [ -s "$tmp/peer.port" ] && break; sleep 0.1; done
	[ -s "$tmp/peer.port" ] || { echo "run-qemu: net-peer.py did not start" >&2; cat "$tmp/peer.log" >&2; exit 2; }
	devices+=(-netdev "socket,id=net0,udp=127.0.0.1:$(cat "$tmp/peer.port"),localaddr=127.0.0.1:0"
		-device virtio-net-device,netdev=net0,mac=52:54:00:c0:ff:ee)
fi
serial=(-serial stdio)
if [ $console -eq 1 ]; then
	# The virtconsole takes stdin/stdout; the serial port goes to a file.
	serial=(-serial "file:$tmp/serial.log" -device virtio-serial-device
		-chardev stdio,id=con0 -device virtconsole,chardev=con0)
	input=$console_input
fi
reboot_arg=(-no-reboot)
[ $reboot -eq 1 ] && reboot_arg=()

printf '%b' "$input" >"$tmp/input"
qemu-system-x86_64 "${mach[@]}" -accel "$accel" -cpu max -m 128M -smp "$smp" \
	-display none -monitor none -parallel none -nodefaults "${reboot_arg[@]}" \
	"${serial[@]}" -kernel "$image" -append "$append" "${devices[@]}" "$@" \
	<"$tmp/input" >"$tmp/stdout.log" 2>"$tmp/qemu.err" &
qpid=$!

log=$tmp/stdout.log
[ $console -eq 1 ] && log=$tmp/serial.log
result=124
deadline=$((SECONDS + timeout))
while [ $SECONDS -lt $deadline ]; do
	if grep -qE '^CORRAL-TEST (PASS|FAIL)' "$log" 2>/dev/null; then
		sleep 0.2 # let the last bytes arrive
		break
	fi
	kill -0 "$qpid" 2>/dev/null || break
	sleep 0.1
done
# A wedged QEMU ignores SIGTERM: follow up with SIGKILL.
kill "$qpid" 2>/dev/null || true
for _ in $(seq 20); do kill -0 "$qpid" 2>/dev/null || break; sleep 0.1; done
kill -9 "$qpid" 2>/dev/null || true
wait "$qpid" 2>/dev/null || true
qpid=
final=$(grep -E '^CORRAL-TEST (PASS|FAIL)' "$log" 2>/dev/null | head -n1 || true)
case $final in
"CORRAL-TEST PASS"*) result=0 ;;
"CORRAL-TEST FAIL"*) result=1 ;;
esac
if [ -n "$expect" ] && [ -n "$final" ]; then
	result=1
	case $final in "$expect"*) result=0 ;; esac
fi

if [ $quiet -eq 0 ]; then
	cat "$log"
	[ $console -eq 1 ] && { echo "--- virtio-console output:"; cat "$tmp/stdout.log"; }
	[ $net -eq 1 ] && { echo "--- net-peer.py:"; cat "$tmp/peer.log"; }
	grep -v -e '^qemu-system-x86_64: terminating on signal' -e 'module ui-ui' "$tmp/qemu.err" >&2 || true
fi
[ $result -eq 124 ] && echo "run-qemu: no CORRAL-TEST line within ${timeout}s" >&2
[ $quiet -eq 1 ] && echo "${final:-no final line}"
exit $result
