#!/bin/bash
# Run a command inside a nested L1 VM (QEMU TCG emulating AMD SVM) that has a
# hardware-assisted /dev/kvm, with the host's / read-only and a work dir read-write.
# See docs/nested-kvm.md.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd "$here/../.." && pwd -P)
assets=${CORRAL_ASSETS:-$repo/build/assets}
mem=2G cpus=2 share=$repo cwd='' timeout=600 freeze=240 verbose=0 interactive=0

usage() {
	cat >&2 <<-USAGE
	usage: $0 [options] -- CMD [ARGS...]
	  --mem SIZE     L1 memory (default 2G)         --cpus N   L1 vCPUs (default 2)
	  --share DIR    shared read-write at the same path in L1 (default: the repo root)
	  --cwd DIR      CMD's working directory (default: \$PWD if inside the share, else the share)
	  --timeout SEC  kill L1 after SEC seconds (default 600)
	  --freeze SEC   L1 has frozen when its heartbeat (every 5 s) stops for SEC seconds
	                 (default 240): print where its vCPUs are and kill it
	  -i             interactive: L1's console (CMD's stdio) is this terminal; C-a x quits
	  -v             show L1's boot time, QEMU's messages and the end of L1's console
	exit status: CMD's; 123 if L1 froze; 124 on timeout; 125 if L1 failed before reporting one
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
	--freeze) freeze=${2:?}; shift 2 ;;
	-i | --interactive) interactive=1; shift ;;
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
	[ -s "$assets/l1/vmlinux" ] && [ -s "$assets/cloud/vmlinuz" ] ||
		"$repo/scripts/fetch-kernels.sh" "$assets" >&2 || exit 1
	if ! [ "$initrd" -nt "$here/mkinitramfs-l1.sh" ] || ! [ "$initrd" -nt "$assets/l1/modules.load" ]; then
		"$here/mkinitramfs-l1.sh" "$assets/l1" "$initrd" || exit 1
	fi
) 9>"$assets/.lock" || die "could not prepare the L1 kernel and initramfs in $assets"

# Asks QEMU (QMP socket $1) where each vCPU is: its state and RIP/RSP/CR3/EFLAGS, plus
# whether it is in guest mode (nested SVM: the L2 guest's state is then shown).
vcpu_report() {
	python3 - "$1" <<-'PY'
	import json, re, socket, sys
	s = socket.socket(socket.AF_UNIX)
	s.settimeout(10)
	s.connect(sys.argv[1])
	f = s.makefile("rw")
	def cmd(c, **a):
	    f.write(json.dumps({"execute": c, "arguments": a}) + "\n"); f.flush()
	    while True:
	        r = json.loads(f.readline())
	        if "return" in r or "error" in r:
	            return r.get("return", r.get("error"))
	json.loads(f.readline())
	cmd("qmp_capabilities")
	for c in cmd("query-cpus-fast"):
	    print("vcpu %d: thread %d" % (c["cpu-index"], c["thread-id"]))
	regs = cmd("human-monitor-command", **{"command-line": "info registers -a"})
	for line in regs.splitlines():
	    if re.match(r"^(CPU#|RAX|RSI|RIP|CS |CR0|EFER)", line):
	        print("  " + line)
	PY
}

run=$(mktemp -d "${TMPDIR:-/tmp}/corral-l1.XXXXXX")
qpid=''
# shellcheck disable=SC2317 # (a trap handler)
cleanup() {
	local p
	[ -z "$qpid" ] || kill "$qpid" 2>/dev/null || true
	rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

printf '%s\n' "$share" >"$run/work"
{ printf 'cd -- %q || exit 125\nexec' "$cwd"; printf ' %q' "$@"; echo; } >"$run/cmd"
q() { printf '%s' "${1//,/,,}"; } # QEMU option values escape commas by doubling them
if [ $interactive = 1 ]; then
	echo "${TERM:-dumb}" >"$run/interactive"
	io=(-serial mon:stdio)
else
	# stdout and stderr travel over virtio-serial ports into FIFOs, apart from the console.
	mkfifo "$run/out" "$run/err"
	io=(-serial "file:$(q "$run/console.log")" -device "virtio-serial-pci,id=vs")
	for f in out err; do
		io+=(-chardev "file,id=$f,path=$(q "$run/$f")"
			-device "virtserialport,bus=vs.0,chardev=$f,name=corral.std$f")
	done
	cat "$run/out" &
	cat "$run/err" >&2 &
fi

# The ELF vmlinux boots through its PVH entry: no xz decompression under TCG (~5 s).
# qboot is faster than SeaBIOS and does not clear the terminal.
kernel=$assets/l1/vmlinux
[ -s "$kernel" ] || kernel=$assets/l1/vmlinuz
bios=()
[ -e /usr/share/qemu/qboot.rom ] && bios=(-bios qboot.rom)

start=$(date +%s%N)
qemu-system-x86_64 -accel tcg,thread=multi -cpu EPYC,+svm -m "$mem" -smp "$cpus" "${bios[@]}" \
	-nographic -no-reboot -monitor none -parallel none -nic none \
	-qmp "unix:$(q "$run/qmp.sock"),server=on,wait=off" \
	-kernel "$kernel" -initrd "$initrd" -append "console=ttyS0 quiet panic=-1" \
	-virtfs local,path=/,mount_tag=host,security_model=passthrough,readonly=on,multidevs=remap \
	-virtfs "local,path=$(q "$run"),mount_tag=ctl,security_model=passthrough" \
	-virtfs "local,path=$(q "$share"),mount_tag=work,security_model=passthrough,multidevs=remap" \
	"${io[@]}" <&0 2>"$run/qemu.log" &
qpid=$!

# Wait for QEMU to end, the timeout, or a freeze: L1's init rewrites ctl/heartbeat every 5 s
# (before that, booting counts against the same limit).
rc='' failed=0 began=$SECONDS
while kill -0 "$qpid" 2>/dev/null; do
	sleep 1
	if [ $((SECONDS - began)) -ge "$timeout" ]; then
		rc=124 failed=1
		break
	fi
	beat=$began
	[ -e "$run/heartbeat" ] && beat=$(($(stat -c %Y "$run/heartbeat") - $(date +%s) + SECONDS))
	if [ $((SECONDS - beat)) -ge "$freeze" ]; then
		rc=123 failed=1
		echo "l1: error: L1 froze: no heartbeat for ${freeze}s; where its vCPUs are:" >&2
		vcpu_report "$run/qmp.sock" 2>&1 | sed 's/^/l1: /' >&2
		break
	fi
done
if [ -n "$rc" ]; then
	kill "$qpid" 2>/dev/null || true
	for _ in $(seq 10); do kill -0 "$qpid" 2>/dev/null || break; sleep 0.5; done
	kill -9 "$qpid" 2>/dev/null || true
fi
wait "$qpid" 2>/dev/null || true
qpid=
if [ $interactive = 0 ]; then
	# If QEMU died before opening the FIFOs, their readers still block in open(): release them.
	for f in out err; do exec 3<>"$run/$f"; exec 3>&-; done
	wait
fi
end=$(date +%s%N)

if [ "$rc" = 124 ]; then
	echo "l1: timeout: the command did not finish within ${timeout}s; L1 killed" >&2
elif [ "$rc" = 123 ]; then
	: # reported above
elif [ -s "$run/status" ]; then
	rc=$(cat "$run/status")
else
	echo "l1: error: L1 ended without reporting the command's exit status" >&2
	[ -s "$run/error" ] && echo "l1: L1 init said: $(cat "$run/error")" >&2
	rc=125 failed=1
fi
if [ $failed = 1 ] || [ $verbose = 1 ]; then
	# TCG lacks a few of EPYC's CPUID features; QEMU's warnings about that are harmless.
	grep -v "TCG doesn't support requested feature" "$run/qemu.log" | sed 's/^/l1: qemu: /' >&2 || true
	if [ -s "$run/console.log" ]; then
		echo "l1: end of the L1 console:" >&2
		tail -n 30 "$run/console.log" | sed 's/\x1b[[0-9;?]*[a-zA-Z]//g; s/\x1b[a-zA-Z]//g; s/\r//g; s/^/l1: | /' >&2
	fi
	# A kernel oops or panic is longer than that tail: the whole console is kept.
	if [ $failed = 1 ] && [ -s "$run/console.log" ] && cp "$run/console.log" "$assets/l1-console.last" 2>/dev/null; then
		echo "l1: the whole L1 console is in $assets/l1-console.last" >&2
	fi
fi
if [ $verbose = 1 ] && [ -s "$run/uptime" ]; then
	ms=$(((end - start) / 1000000))
	printf 'l1: the command started at L1 uptime %ss; the whole run took %d.%03ds\n' \
		"$(cat "$run/uptime")" $((ms / 1000)) $((ms % 1000)) >&2
fi
exit "$rc"
