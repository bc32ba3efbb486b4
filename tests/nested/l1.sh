#!/bin/bash
# Run a command inside a nested L1 VM (QEMU TCG emulating AMD SVM) that has a
# hardware-assisted /dev/kvm, with the host's / read-only and a work dir read-write.
# See docs/nested-kvm.md.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd "$here/../.." && pwd -P)
assets=${CORRAL_ASSETS:-$repo/build/assets}
mem=2G cpus=2 share=$repo cwd= timeout=600 verbose=0

usage() {
	cat >&2 <<-USAGE
	usage: $0 [--mem SIZE] [--cpus N] [--share DIR] [--cwd DIR] [--timeout SEC] [-v] -- CMD [ARGS...]
	  --share DIR  directory shared read-write at the same path (default: the repo root)
	  --cwd DIR    working directory of CMD (default: \$PWD if inside the share, else the share)
	  -v           report L1 boot time and keep nothing quiet about failures
	exit status: CMD's, 124 on timeout, 125 if L1 failed before reporting one
	USAGE
	exit 2
}
die() { echo "l1: error: $*" >&2; exit 125; }

while [ $# -gt 0 ]; do
	case $1 in
	--mem) mem=${2:?}; shift 2 ;;
	--cpus) cpus=${2:?}; shift 2 ;;
	--share) share=${2:?}; shift 2 ;;
	--cwd) cwd=${2:?}; shift 2 ;;
	--timeout) timeout=${2:?}; shift 2 ;;
	-v | --verbose) verbose=1; shift ;;
	--) shift; break ;;
	*) usage ;;
	esac
done
[ $# -gt 0 ] || usage
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found (apt-get install qemu-system-x86)"
share=$(cd "$share" 2>/dev/null && pwd -P) || die "--share: no such directory"
if [ -z "$cwd" ]; then
	cwd=$(pwd -P)
	case $cwd/ in "$share"/*) ;; *) cwd=$share ;; esac
fi
case $cwd in /*) ;; *) die "--cwd must be an absolute path" ;; esac

# Kernels and initramfs are cached in $assets; the lock keeps parallel runs from racing.
mkdir -p "$assets"
initrd=$assets/l1/initramfs.cpio
(
	flock 9
	[ -s "$assets/l1/vmlinuz" ] && [ -s "$assets/cloud/vmlinuz" ] ||
		"$repo/scripts/fetch-kernels.sh" "$assets" >&2 || exit 1
	if ! [ "$initrd" -nt "$here/mkinitramfs-l1.sh" ] || ! [ "$initrd" -nt "$assets/l1/modules.load" ]; then
		"$here/mkinitramfs-l1.sh" "$assets/l1" "$initrd" || exit 1
	fi
) 9>"$assets/.lock" || die "could not prepare the L1 kernel and initramfs in $assets"

run=$(mktemp -d "${TMPDIR:-/tmp}/corral-l1.XXXXXX")
qpid= spid= opid= epid=
cleanup() {
	local p
	for p in $qpid $spid; do kill "$p" 2>/dev/null || true; done
	rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

printf '%s\n' "$share" >"$run/work"
{ printf 'cd -- %q || exit 125\nexec' "$cwd"; printf ' %q' "$@"; echo; } >"$run/cmd"
mkfifo "$run/out" "$run/err"

q() { printf '%s' "${1//,/,,}"; }  # QEMU option values escape commas by doubling them
start=$(date +%s.%N)
qemu-system-x86_64 -accel tcg,thread=multi -cpu EPYC,+svm -m "$mem" -smp "$cpus" \
	-nographic -no-reboot -monitor none -parallel none -nic none \
	-kernel "$assets/l1/vmlinuz" -initrd "$initrd" -append "console=ttyS0 quiet panic=-1" \
	-serial "file:$(q "$run/console.log")" \
	-virtfs local,path=/,mount_tag=host,security_model=passthrough,readonly=on,multidevs=remap \
	-virtfs "local,path=$(q "$run"),mount_tag=ctl,security_model=passthrough" \
	-virtfs "local,path=$(q "$share"),mount_tag=work,security_model=passthrough,multidevs=remap" \
	-device virtio-serial-pci,id=vs \
	-chardev "file,id=out,path=$(q "$run/out")" -device virtserialport,bus=vs.0,chardev=out,name=corral.stdout \
	-chardev "file,id=err,path=$(q "$run/err")" -device virtserialport,bus=vs.0,chardev=err,name=corral.stderr \
	</dev/null 2>"$run/qemu.log" &
qpid=$!
cat "$run/out" & opid=$!
cat "$run/err" >&2 & epid=$!
sleep "$timeout" & spid=$!

wait -n "$qpid" "$spid" || true
if kill -0 "$qpid" 2>/dev/null; then
	kill "$qpid"
	for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$qpid" 2>/dev/null || break; sleep 0.5; done
	kill -9 "$qpid" 2>/dev/null || true
	rc=124
else
	kill "$spid" 2>/dev/null || true
	rc=
fi
wait "$qpid" 2>/dev/null || true
qpid=
# If QEMU died before opening the FIFOs, the readers still block in open(); release them.
for f in out err; do exec 3<>"$run/$f"; exec 3>&-; done
wait "$opid" "$epid" 2>/dev/null || true
end=$(date +%s.%N)

if [ "$rc" = 124 ]; then
	echo "l1: timeout: command did not finish within ${timeout}s, L1 killed" >&2
elif [ -s "$run/status" ]; then
	rc=$(cat "$run/status")
else
	echo "l1: error: L1 ended without reporting an exit status" >&2
	[ -s "$run/error" ] && echo "l1: L1 init: $(cat "$run/error")" >&2
	rc=125
fi
if [ "$rc" = 124 ] || [ "$rc" = 125 ] || [ "$verbose" = 1 ]; then
	[ -s "$run/qemu.log" ] && sed 's/^/l1: qemu: /' "$run/qemu.log" >&2
	if [ -s "$run/console.log" ]; then
		echo "l1: last lines of the L1 console:" >&2
		tail -n 30 "$run/console.log" | tr -d '\r' | sed 's/^/l1: | /' >&2
	fi
fi
if [ "$verbose" = 1 ] && [ -s "$run/uptime" ]; then
	echo "l1: command started at L1 uptime $(cat "$run/uptime")s; whole run $(echo "$end - $start" | bc)s" >&2
fi
exit "$rc"
