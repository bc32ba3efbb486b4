#!/usr/bin/env bash
# corral-vmm end to end: boots the project's test guests (tests/guests) and
# checks what each reports, plus bad input, the control API and the sandbox.
# Needs a usable /dev/kvm; tests/vmm/run.sh provides one (directly or nested).
# Prints TAP.  Usage: suite.sh BUILD_DIR
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-build}" && pwd)
. "$here/lib.sh"
VMM=$build/corral-vmm
G=$build/tests/guests
work=$(mktemp -d /var/tmp/corral-vmm-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
log=$work/log
T=60   # per-VM deadline, seconds: guests finish in well under one

pass_line() { has "CORRAL-TEST PASS $1"; }

# ---- boot paths and the serial port -------------------------------------
for kind in bzImage elf pvh.elf; do
  printf 'hello corral\n' >"$work/in"
  VMM_STDIN=$work/in vmm "$log" $T --kernel "$G/guest-serial.$kind" --no-reboot
  check "serial guest via $kind: output, input echo, poweroff exit 0" \
    eval 'status_is 0 && has "echo: hello corral" && pass_line serial'
done
printf 'interrupt driven\n' >"$work/in"
VMM_STDIN=$work/in vmm "$log" $T --kernel "$G/guest-serial.pvh.elf" --cmdline irq
check "serial receive interrupt (IRQ 4)" eval 'status_is 0 && has "echo: interrupt driven" && pass_line serial'

# The serial port on a pty: the VMM logs the pty's path; a line typed there
# comes back echoed there.
timeout -k 5 $T "$VMM" --kernel "$G/guest-serial.pvh.elf" --console pty </dev/null >"$log" 2>&1 &
vpid=$!
pty_out=$(python3 - "$log" <<'PY'
import os, re, sys, time
deadline = time.time() + 30
while time.time() < deadline:
    m = re.search(r"serial console on (/dev/pts/\d+)", open(sys.argv[1]).read())
    if m:
        break
    time.sleep(0.1)
else:
    sys.exit("no pty announced")
fd = os.open(m.group(1), os.O_RDWR | os.O_NOCTTY)
os.write(fd, b"over the pty\n")
buf = b""
while time.time() < deadline and not re.search(rb"CORRAL-TEST .*\n", buf):
    try:
        buf += os.read(fd, 4096)
    except OSError:
        break
print(buf.decode(errors="replace"))
PY
)
wait $vpid; rc=$?
echo "$pty_out" >>"$log"
check "serial console on a pty" eval 'status_is 0 && has "echo: over the pty" && pass_line serial'

# ---- CPUs and timers ----------------------------------------------------
for n in 1 2 4; do
  vmm "$log" $T --kernel "$G/guest-smp.pvh.elf" --cpus $n
  check "smp guest sees and starts $n vCPUs" eval "status_is 0 && has 'cpus=$n' && pass_line smp"
done
vmm "$log" $T --kernel "$G/guest-timer.pvh.elf"
check "timer interrupts arrive" eval 'status_is 0 && pass_line timer'

# ---- virtio-blk ----------------------------------------------------------
truncate -s 4M "$work/disk.img"
vmm "$log" $T --kernel "$G/guest-blk.pvh.elf" --disk "$work/disk.img"
check "virtio-blk: write, flush, read back, GET_ID" eval 'status_is 0 && pass_line blk'
check "virtio-blk: the guest's writes reached the host file" \
  eval '[ "$(dd if="$work/disk.img" bs=512 skip=1 count=8 status=none | tr -d "\\0" | wc -c)" -gt 0 ]'
vmm "$log" $T --kernel "$G/guest-blk.pvh.elf" --disk "$work/disk.img" --cmdline "noindirect noeventidx"
check "virtio-blk without indirect descriptors and EVENT_IDX" eval 'status_is 0 && pass_line blk'
cp "$work/disk.img" "$work/ro.img"
sum_before=$(md5sum <"$work/ro.img")
vmm "$log" $T --kernel "$G/guest-blk.pvh.elf" --disk "$work/ro.img,readonly" --cmdline ro
check "virtio-blk read-only: writes refused" eval 'status_is 0 && pass_line blk'
check "virtio-blk read-only: file unchanged" eval '[ "$(md5sum <"$work/ro.img")" = "$sum_before" ]'

# qcow2 through the block layer: a linked clone of a raw base image.
qemu-img create -q -f raw "$work/base.raw" 4M
qemu-img create -q -f qcow2 -b "$work/base.raw" -F raw "$work/clone.qcow2"
base_sum=$(md5sum <"$work/base.raw")
vmm "$log" $T --kernel "$G/guest-blk.pvh.elf" --disk "$work/clone.qcow2"
check "virtio-blk on a qcow2 linked clone: write, flush, read back" eval 'status_is 0 && pass_line blk'
check "qcow2 written by the guest passes qemu-img check; the base is untouched" \
  eval 'qemu-img check "$work/clone.qcow2" >>"$log" 2>&1 && [ "$(md5sum <"$work/base.raw")" = "$base_sum" ]'
check "the guest's writes are in the qcow2 image, as qemu-img sees it" \
  eval 'qemu-img convert -O raw "$work/clone.qcow2" "$work/clone.raw" && [ "$(dd if="$work/clone.raw" bs=512 skip=1 count=8 status=none | tr -d "\\0" | wc -c)" -gt 0 ]'
vmm "$log" 10 --kernel "$G/guest-blk.pvh.elf" --disk "$work/clone.qcow2,format=raw,readonly" --cmdline ro
check "--disk format=raw on a qcow2 file exposes the file's bytes" eval 'status_is 0 && pass_line blk'

# ---- virtio-net through a tap ------------------------------------------
if ip netns add corral-vmm-t$$ 2>/dev/null; then
  ns="ip netns exec corral-vmm-t$$"
  $ns ip tuntap add dev ctap0 mode tap && $ns ip link set ctap0 up
  $ns python3 "$here/tap_peer.py" ctap0 20 >"$work/peer.log" 2>&1 &
  peer=$!
  sleep 0.5
  rc=0
  timeout -k 5 $T $ns "$VMM" --kernel "$G/guest-net.pvh.elf" --net tap=ctap0,mac=52:54:00:c0:ff:ee \
    </dev/null >"$log" 2>&1 || rc=$?
  wait $peer; peer_rc=$?
  check "virtio-net: guest frame reached the host through the tap" eval 'grep -q "got corral-ping from 52:54:00:c0:ff:ee" "$work/peer.log"'
  check "virtio-net: host frame reached the guest" eval 'status_is 0 && has "corral-pong" && pass_line net && [ $peer_rc -eq 0 ]'
  ip netns del corral-vmm-t$$
else
  skip "virtio-net through a tap" "cannot create a network namespace here"
  skip "virtio-net: host frame reached the guest" "cannot create a network namespace here"
fi

# ---- virtio-console and virtio-rng --------------------------------------
printf 'typed into hvc0\n' >"$work/in"
VMM_STDIN=$work/in vmm "$work/vcon.out" $T --kernel "$G/guest-console.pvh.elf" \
  --console "file=$work/serial.log" --virtio-console stdio
cp "$work/serial.log" "$log"; cat "$work/vcon.out" >>"$log"
check "virtio-console: output and input" \
  eval 'status_is 0 && grep -q "hello from virtio-console" "$work/vcon.out" && has "typed into hvc0" && pass_line console'
vmm "$log" $T --kernel "$G/guest-rng.pvh.elf" --rng
check "virtio-rng: random bytes" eval 'status_is 0 && pass_line rng'

# ---- hypercall channel, reboot, crash -----------------------------------
vmm "$log" $T --kernel "$G/guest-hcall.pvh.elf"
check "hypercalls: probe, log, time, report, bad address, unknown op" \
  eval 'status_is 0 && pass_line hcall && has "guest: " && has "report 42=4242"'
vmm "$log" $T --kernel "$G/guest-reboot.pvh.elf" --no-reboot
check "reboot by hypercall ends the VMM with 0 under --no-reboot" eval 'status_is 0 && has "guest rebooted"'
vmm "$log" $T --kernel "$G/guest-reboot.pvh.elf" --no-reboot --cmdline via=i8042
check "reboot by i8042 reset ends the VMM with 0 under --no-reboot" eval 'status_is 0 && has "guest rebooted"'
vmm "$log" $T --kernel "$G/guest-reboot.pvh.elf" --cmdline via=triple
check "triple fault: exit status 3 and a register dump" eval 'status_is 3 && has "triple-faulted" && has "rip="'
sock=$work/reboot.sock
timeout -k 5 $T "$VMM" --kernel "$G/guest-reboot.pvh.elf" --api-socket "$sock" </dev/null >"$log" 2>&1 &
vpid=$!
boots=0
if wait_for "$sock" 10; then
  for _ in $(seq 100); do
    boots=$(json_get "$(api "$sock" '{"cmd":"describe"}')" result.boots)
    [ "${boots:-0}" -ge 3 ] 2>/dev/null && break
    sleep 0.2
  done
  api "$sock" '{"cmd":"stop"}' >/dev/null
fi
wait $vpid; rc=$?
check "reboot without --no-reboot restarts the VM (boots=$boots)" eval '[ "${boots:-0}" -ge 3 ] && status_is 0'

# ---- a hostile guest ------------------------------------------------------
truncate -s 1M "$work/hostile.img"
vmm "$log" $T --kernel "$G/guest-hostile.pvh.elf" --disk "$work/hostile.img"
check "hostile guest: bad descriptors, huge lengths, wild MMIO leave the VMM alive" \
  eval 'status_is 0 && pass_line hostile'
# A guest that never lets its queue run dry (storm=): each pass over a queue
# is bounded, so the control API keeps answering, 20 pings over the storm.
hsock=$work/hostile.sock
timeout -k 5 $T "$VMM" --kernel "$G/guest-hostile.pvh.elf" --disk "$work/hostile.img" --cmdline storm=6 \
  --api-socket "$hsock" </dev/null >"$log" 2>&1 &
hpid=$!
pings=
wait_for "$hsock" 10 && pings=$(python3 - "$hsock" <<'PY'
import json, socket, sys, time
ok, worst = 0, 0.0
for _ in range(20):
    t0 = time.monotonic()
    try:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        s.connect(sys.argv[1])
        s.sendall(b'{"cmd":"ping"}\n')
        ok += json.loads(s.makefile().readline()).get("ok") is True
        s.close()
    except (OSError, ValueError):
        pass
    worst = max(worst, time.monotonic() - t0)
    time.sleep(0.15)
print(ok, round(worst * 1000))
PY
)
wait $hpid; rc=$?
echo "# control API during the storm: ${pings:-no} (pings answered of 20, slowest in ms)"
check "a guest that never lets its queue run dry: the control API answers every ping within a second meanwhile" \
  eval 'status_is 0 && pass_line hostile && has "storm:" && [ "${pings%% *}" = 20 ] && [ "${pings##* }" -lt 1000 ]'

# ---- bad input: one clear line, status 2 ---------------------------------
bad() {
  local name=$1 expect=$2
  shift 2
  vmm "$log" 10 "$@"
  check "bad input: $name" eval "status_is 2 && [ \$(wc -l <\"\$log\") -eq 1 ] && has '$expect'"
}
head -c 100000 /dev/urandom >"$work/garbage"
: >"$work/empty"
bad "missing kernel" "cannot open" --kernel "$work/nonexistent"
bad "corrupt kernel" "not a bzImage or ELF image" --kernel "$work/garbage"
bad "empty kernel" "not a bzImage or ELF image" --kernel "$work/empty"
bad "no kernel option" "no kernel given" --memory 64M
bad "bad memory size" "bad size" --kernel "$G/guest-serial.pvh.elf" --memory 12Q
bad "too many vCPUs" "--cpus" --kernel "$G/guest-serial.pvh.elf" --cpus 999
bad "unknown option" "unknown option" --kernel "$G/guest-serial.pvh.elf" --frobnicate
bad "missing disk" "--disk" --kernel "$G/guest-serial.pvh.elf" --disk "$work/nope.img"
head -c 4096 /dev/urandom | { printf 'QFI\xfb\0\0\0\x03'; cat; } >"$work/bad.qcow2"
bad "corrupt qcow2 disk" "--disk $work/bad.qcow2" --kernel "$G/guest-serial.pvh.elf" --disk "$work/bad.qcow2"
bad "unknown disk format" "unknown format" --kernel "$G/guest-serial.pvh.elf" --disk "$work/disk.img,format=vmdk"
bad "tap that cannot be opened" "--net tap=lo" --kernel "$G/guest-serial.pvh.elf" --net tap=lo
bad "no /dev/kvm" "cannot open /nonexistent/kvm" --kernel "$G/guest-serial.pvh.elf" --kvm-device /nonexistent/kvm
printf '{"kernel": "%s", "memroy": "64M"}' "$G/guest-serial.pvh.elf" >"$work/bad.json"
bad "config file with an unknown key" 'unknown key "memroy"' --config "$work/bad.json"
dd if="$G/guest-serial.bzImage" of="$work/trunc" bs=1 count=2000 status=none
bad "truncated bzImage" "truncated" --kernel "$work/trunc"
bad "memory below the minimum" "between 2M and 1T" --kernel "$G/guest-serial.pvh.elf" --memory 1M
[ -s "${CORRAL_ASSETS:-$build/assets}/cloud/vmlinuz" ] &&
  bad "memory too small for the kernel" "needs" --kernel "${CORRAL_ASSETS:-$build/assets}/cloud/vmlinuz" --memory 16M

# ---- JSON config file ------------------------------------------------------
printf '{"kernel": "%s", "memory": "64M", "cpus": 2, "no_reboot": true}' "$G/guest-smp.pvh.elf" >"$work/vm.json"
vmm "$log" $T --config "$work/vm.json"
check "--config file boots the VM it describes" eval 'status_is 0 && has "cpus=2" && pass_line smp'
vmm "$log" $T --config "$work/vm.json" --cpus 3
check "command-line options override the config file" eval 'status_is 0 && has "cpus=3"'

# ---- control API and sandbox on a long-running guest ---------------------
mkfifo "$work/hold"
sock=$work/api.sock
mkdir -p "$work/jail"
mkfifo "$work/ready"
( exec 3<>"$work/hold"; exec "$VMM" --kernel "$G/guest-serial.pvh.elf" --api-socket "$sock" \
    --jail "$work/jail" --uid 65534 --gid 65534 --console pty --ready-fd 5 <"$work/hold" >"$log" 2>&1 \
    5>"$work/ready" ) &
vpid=$!
# --ready-fd: one line once the VM runs and the API listens, then end of file
ready=$(timeout 20 cat "$work/ready")
check "--ready-fd: one line {ready, serial pty} once the API listens, then EOF" \
  eval '[ "$(json_get "$ready" ready)" = true ] && [ -c "$(json_get "$ready" serial)" ] &&
        [ "$(printf "%s\n" "$ready" | wc -l)" = 1 ] && [ -S "$sock" ] &&
        [ "$(json_get "$(api "$sock" "{\"cmd\":\"ping\"}")" ok)" = true ]'
"$VMM" --kernel "$work/no-such-kernel" --ready-fd 5 5>"$work/ready2" >"$work/ready2.log" 2>&1; rc=$?
check "--ready-fd: nothing but end of file when it fails before running" \
  eval 'status_is 2 && [ ! -s "$work/ready2" ]'
"$VMM" --kernel "$G/guest-serial.pvh.elf" --ready-fd 9 >"$work/ready3.log" 2>&1; rc=$?
check "--ready-fd on a closed fd is refused" \
  eval 'status_is 2 && grep -q -- "--ready-fd 9: not an open file descriptor" "$work/ready3.log"'
if wait_for "$sock" 10; then
  sleep 0.5
  pid=$(pgrep -f "api-socket $sock" | head -1)
  d=$(api "$sock" '{"cmd":"describe"}')
  check "api describe: running, config and vCPUs" \
    eval '[ "$(json_get "$d" result.state)" = running ] && [ "$(json_get "$d" result.config.cpus)" = 1 ] && [ -n "$(json_get "$d" result.vcpus.0.id)" ]'
  r=$(api "$sock" '{"cmd":"pause"}')
  d=$(api "$sock" '{"cmd":"describe"}')
  check "api pause" eval '[ "$(json_get "$r" ok)" = true ] && [ "$(json_get "$d" result.state)" = paused ]'
  r=$(api "$sock" '{"cmd":"pause"}')
  check "api pause twice is refused" eval '[ "$(json_get "$r" ok)" = false ]'
  r=$(api "$sock" '{"cmd":"resume"}')
  d=$(api "$sock" '{"cmd":"describe"}')
  check "api resume" eval '[ "$(json_get "$r" ok)" = true ] && [ "$(json_get "$d" result.state)" = running ]'
  c=$(api "$sock" '{"cmd":"counters"}')
  check "api counters: exits by reason and device accesses" \
    eval '[ "$(json_get "$c" result.exits.io)" -gt 0 ] && [ "$(json_get "$c" result.devices.serial.accesses)" -gt 0 ]'
  r=$(api "$sock" 'this is not json')
  check "api: bad JSON gets an error, not a crash" eval '[ "$(json_get "$r" ok)" = false ] && [ -n "$(json_get "$r" error)" ]'
  r=$(api "$sock" '{"cmd":"frobnicate"}')
  check "api: unknown command names the known ones" eval '[ "$(json_get "$r" ok)" = false ] && json_get "$r" error | grep -q describe'
  check "sandbox: runs as uid 65534 in the jail" \
    eval '[ -n "$pid" ] && grep -q "^Uid:.*65534" /proc/$pid/status && [ "$(readlink /proc/$pid/root)" = "$work/jail" ]'
  check "sandbox: seccomp filter on, no capabilities" \
    eval 'grep -q "^Seccomp:[[:space:]]*2" /proc/$pid/status && grep -q "^CapEff:[[:space:]]*0000000000000000" /proc/$pid/status'
  r=$(api "$sock" '{"cmd":"stop"}')
  wait $vpid; rc=$?
  check "api stop: the VMM exits 0" eval 'status_is 0'
else
  not_ok "api socket did not appear"; diag "$log"
  kill $vpid 2>/dev/null
fi

# ---- snapshot and restore (docs/snapshot-format.md) ------------------------
# memcheck rewrites 16 MiB with a new pattern every pass and verifies the
# last one; its LAPIC timer ticks meanwhile.  A restored VM must carry on
# from the pass it was saved in, without a wrong byte, twice from one snapshot.
passes() { grep -a "^memcheck: pass " "$1" 2>/dev/null | awk '{print $3}'; }
last_pass() { passes "$1" | tail -1; }
wait_passes() {  # wait_passes LOG N: until LOG shows N passes
  local i
  for i in $(seq 150); do [ "$(passes "$1" | wc -l)" -ge "$2" ] && return 0; sleep 0.2; done
  return 1
}
snap=$work/snap
mkdir -p "$snap"
ssock=$work/snap.sock
timeout -k 5 $T "$VMM" --kernel "$G/guest-memcheck.pvh.elf" --memory 96M --cpus 2 --rng --console "file=$work/mc1" \
  --api-socket "$ssock" </dev/null >"$work/mc1.err" 2>&1 &
vpid=$!
if wait_for "$ssock" 10 && wait_passes "$work/mc1" 3; then
  r=$(api "$ssock" "{\"cmd\":\"snapshot\",\"path\":\"$snap\"}")
  at=$(last_pass "$work/mc1")
  check "snapshot of a running VM: memory and state written, the VM runs on" \
    eval '[ "$(json_get "$r" ok)" = true ] && [ "$(json_get "$r" result.state)" = running ] &&
          [ -s "$snap/state" ] && [ "$(stat -c %s "$snap/memory")" = $((96 << 20)) ] &&
          [ "$(json_get "$r" result.memory_bytes_written)" -lt $((96 << 20)) ] && wait_passes "$work/mc1" $((at + 2))'
  r=$(api "$ssock" "{\"cmd\":\"snapshot\",\"path\":\"$snap\"}")
  check "a second snapshot into the same directory is refused" \
    eval '[ "$(json_get "$r" ok)" = false ] && json_get "$r" error | grep -q "empty directory"'
  mkdir "$work/snap-paused"
  r=$(api "$ssock" "{\"cmd\":\"snapshot\",\"path\":\"$work/snap-paused\",\"resume\":false}")
  d=$(api "$ssock" '{"cmd":"describe"}')
  check "snapshot with resume false leaves the VM paused" \
    eval '[ "$(json_get "$r" result.state)" = paused ] && [ "$(json_get "$d" result.state)" = paused ]'
  kill -9 $vpid
fi
wait $vpid 2>/dev/null
for n in 2 3; do
  timeout -k 5 $T "$VMM" --restore "$snap" --memory 96M --cpus 2 --rng --console "file=$work/mc$n" \
    --api-socket "$work/r$n.sock" </dev/null >"$work/mc$n.err" 2>&1 &
  vpid=$!
  ok_run=false
  wait_passes "$work/mc$n" 4 && ok_run=true
  first=$(passes "$work/mc$n" | head -1)
  d=$( [ -S "$work/r$n.sock" ] && api "$work/r$n.sock" '{"cmd":"describe"}')
  kill -9 $vpid; wait $vpid 2>/dev/null
  cp "$work/mc$n" "$log"; cat "$work/mc$n.err" >>"$log"
  check "restore #$((n - 1)) from one snapshot carries on from the saved pass, every byte checked" \
    eval '$ok_run && [ "${first:-0}" -gt 3 ] && ! grep -q "CORRAL-TEST FAIL" "$work/mc$n" &&
          [ "$(json_get "$d" result.state)" = running ]'
done
bad "restore with another memory size" "give --memory 96M" --restore "$snap" --memory 128M --cpus 2 --rng
bad "restore with another vCPU count" "give --cpus 2" --restore "$snap" --memory 96M --rng
bad "restore with another device set" "had the devices" --restore "$snap" --memory 96M --cpus 2
bad "restore from a directory without a snapshot" "no state file" --restore "$work" --memory 96M
mkdir -p "$work/damaged"
cp "$snap/state" "$work/damaged/state"
ln -sf "$snap/memory" "$work/damaged/memory"
python3 - "$work/damaged/state" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[len(b) // 2] ^= 0x10
open(sys.argv[1], "wb").write(b)
PY
bad "restore from a damaged snapshot" "fails its checksum" --restore "$work/damaged" --memory 96M --cpus 2 --rng
head -c 5000 "$snap/state" >"$work/damaged/state"
bad "restore from a truncated snapshot" "truncated" --restore "$work/damaged" --memory 96M --cpus 2 --rng
{ head -c 8 "$snap/state"; printf '\x09'; tail -c +10 "$snap/state"; } >"$work/damaged/state"
bad "restore from a newer format" "format version 9" --restore "$work/damaged" --memory 96M --cpus 2 --rng

# ---- live migration (docs/migration.md) ---------------------------------------
# A memcheck VM (96 MiB, 2 vCPUs) moves to a second corral-vmm waiting with
# --incoming: the destination carries on from the source's pass without a
# wrong byte and the source exits 0.  A guest rewriting 24 MiB per pass
# over a link limited to 12 MiB/s only gets there slowed down
# (auto-converge).  (At 32 MiB/s a guest slowed by a busy L1 once dirtied
# too little to need it: the link must be well below any dirty rate here.)  A cancel, a destination killed half-way and a
# destination of another shape all leave the source running.
msrc() {  # msrc NAME [CMDLINE [OPTIONS]]: a memcheck source with an API socket
  rm -f "$work/$1" "$work/$1.sock"
  timeout -k 5 120 "$VMM" --kernel "$G/guest-memcheck.pvh.elf" --memory 96M --cpus 2 --rng --cmdline "${2:-}" \
    --console "file=$work/$1" --api-socket "$work/$1.sock" "${@:3}" </dev/null >"$work/$1.err" 2>&1 &
  spid=$!
  wait_for "$work/$1.sock" 10 && wait_passes "$work/$1" 3
}
mdst() {  # mdst NAME URI [OPTIONS]: a destination waiting for it
  rm -f "$work/$1" "$work/$1.sock"
  timeout -k 5 120 "$VMM" --incoming "$2" --cpus 2 --rng --console "file=$work/$1" \
    --api-socket "$work/$1.sock" "${@:3}" </dev/null >"$work/$1.err" 2>&1 &
  dpid=$!
}
mig_wait() {  # mig_wait SOCK: until the migration ends (or the VMM is gone); its last status
  local i st last=
  for ((i = 0; i < 900; i++)); do
    st=$(api "$1" '{"cmd":"migrate-status"}' 2>/dev/null) && [ -n "$st" ] || break
    last=$st
    case $(json_get "$st" result.phase) in completed|failed|cancelled) break ;; esac
    sleep 0.1
  done
  echo "$last"
}
kill9() { pkill -9 -P "$1"; kill -9 "$1"; } 2>/dev/null    # a timeout(1) and its VMM
mig_log() { for f in "$@"; do echo "# --- $f" >>"$log"; cat "$work/$f" "$work/$f.err" >>"$log" 2>/dev/null; done; }
# migration NAME... -- CMD ARGS...: CMD, once more if a VMM of $work/NAME.err
# hit the emulated SVM's triple fault (lib.sh's emulator_retry).
migration() {
  local logs=()
  while [ "$1" != -- ]; do logs+=("$work/$1.err"); shift; done
  shift
  emulator_retry "${logs[*]}" "$@"
}
: >"$log"
port=$((20000 + RANDOM % 20000))

mig_unix() {
msrc ms1
mdst md1 "unix:$work/mig1.sock" --memory 96M
wait_for "$work/mig1.sock" 10
at=$(last_pass "$work/ms1")
r=$(api "$work/ms1.sock" "{\"cmd\":\"migrate\",\"uri\":\"unix:$work/mig1.sock\"}")
st=$(mig_wait "$work/ms1.sock")
wait $spid; src_rc=$?
wait_passes "$work/md1" 3
first=$(passes "$work/md1" | head -1)
d=$(api "$work/md1.sock" '{"cmd":"describe"}')
kill9 $dpid; wait $dpid 2>/dev/null
mig_log ms1 md1; echo "# $r" >>"$log"; echo "# $st" >>"$log"
}
migration ms1 md1 -- mig_unix
check "live migration over a Unix socket: the destination carries on from the source's pass, every byte checked; the source exits 0" \
  eval '[ "$(json_get "$r" ok)" = true ] && [ "$src_rc" = 0 ] && grep -q "now runs at its migration" "$work/ms1.err" &&
        [ "${first:-0}" -gt "${at:-99999}" ] && [ "$(passes "$work/md1" | wc -l)" -ge 3 ] &&
        ! grep -q "CORRAL-TEST FAIL" "$work/md1" && [ "$(json_get "$d" result.state)" = running ]'
echo "# migrate-status: $st"

# A paused VM arrives paused, and runs on when resumed there.
mig_paused() {
msrc ms6
api "$work/ms6.sock" '{"cmd":"pause"}' >/dev/null
mdst md6 "unix:$work/mig6.sock" --memory 96M
wait_for "$work/mig6.sock" 10
at=$(last_pass "$work/ms6")
r=$(api "$work/ms6.sock" "{\"cmd\":\"migrate\",\"uri\":\"unix:$work/mig6.sock\"}")
wait $spid; src_rc=$?
for ((i = 0; i < 50; i++)); do [ -S "$work/md6.sock" ] && grep -q "stays paused" "$work/md6.err" && break; sleep 0.2; done
d=$(api "$work/md6.sock" '{"cmd":"describe"}')
sleep 0.5
quiet=$(passes "$work/md6" | wc -l)
res=$(api "$work/md6.sock" '{"cmd":"resume"}')
ok_run=false; wait_passes "$work/md6" 2 && ok_run=true
first=$(passes "$work/md6" | head -1)
kill9 $dpid; wait $dpid 2>/dev/null
mig_log ms6 md6
}
migration ms6 md6 -- mig_paused
check "a paused VM migrates paused: nothing runs at the destination until resume, then it carries on from its pass" \
  eval '[ "$(json_get "$r" ok)" = true ] && [ "$src_rc" = 0 ] && [ "$(json_get "$d" result.state)" = paused ] &&
        [ "$quiet" = 0 ] && [ "$(json_get "$res" ok)" = true ] && $ok_run && [ "${first:-0}" -gt "${at:-99999}" ] &&
        ! grep -q "CORRAL-TEST FAIL" "$work/md6"'

mig_converge() {
msrc ms2 "mib=24"
mdst md2 "tcp:127.0.0.1:$port" --memory 96M
sleep 0.5
r=$(api "$work/ms2.sock" "{\"cmd\":\"migrate\",\"uri\":\"tcp:127.0.0.1:$port\",\"bandwidth_mib\":12}")
st=$(mig_wait "$work/ms2.sock")
wait $spid; src_rc=$?
wait_passes "$work/md2" 2
d=$(api "$work/md2.sock" '{"cmd":"describe"}')
kill9 $dpid; wait $dpid 2>/dev/null
mig_log ms2 md2; echo "# $st" >>"$log"
}
migration ms2 md2 -- mig_converge
check "a guest dirtying 24 MiB per pass over a 12 MiB/s TCP link migrates, slowed down by auto-converge" \
  eval '[ "$(json_get "$r" ok)" = true ] && [ "$src_rc" = 0 ] && [ "$(json_get "$d" result.state)" = running ] &&
        ! grep -q "CORRAL-TEST FAIL" "$work/md2" && grep -q "vCPUs throttled to [1-9]" "$work/ms2.err"'
echo "# migrate-status: $st"

# One source (ms3) meets three destinations that fail it: a cancel, a kill, another shape.
mig_failing() {
msrc ms3
mdst md3 "unix:$work/mig3.sock" --memory 96M
wait_for "$work/mig3.sock" 10
r=$(api "$work/ms3.sock" "{\"cmd\":\"migrate\",\"uri\":\"unix:$work/mig3.sock\",\"bandwidth_mib\":2}")
sleep 1
c=$(api "$work/ms3.sock" '{"cmd":"migrate-cancel"}')
st3=$(mig_wait "$work/ms3.sock")
at=$(last_pass "$work/ms3")
ok3=false; wait_passes "$work/ms3" $((at + 3)) && ok3=true
wait $dpid; rc3=$?

mdst md4 "unix:$work/mig4.sock" --memory 96M
wait_for "$work/mig4.sock" 10
r=$(api "$work/ms3.sock" "{\"cmd\":\"migrate\",\"uri\":\"unix:$work/mig4.sock\",\"bandwidth_mib\":2}")
sleep 1
kill9 $dpid; wait $dpid 2>/dev/null
st4=$(mig_wait "$work/ms3.sock")
at=$(last_pass "$work/ms3")
ok4=false; wait_passes "$work/ms3" $((at + 3)) && ok4=true

mdst md5 "unix:$work/mig5.sock" --memory 128M
wait_for "$work/mig5.sock" 10
r=$(api "$work/ms3.sock" "{\"cmd\":\"migrate\",\"uri\":\"unix:$work/mig5.sock\"}")
st5=$(mig_wait "$work/ms3.sock")
wait $dpid; rc5=$?
at=$(last_pass "$work/ms3")
ok5=false; wait_passes "$work/ms3" $((at + 2)) && ok5=true
d=$(api "$work/ms3.sock" '{"cmd":"describe"}')
kill9 $spid; wait $spid 2>/dev/null
mig_log ms3 md3 md4 md5; echo "# $st3" >>"$log"; echo "# $st4" >>"$log"; echo "# $st5" >>"$log"
}
migration ms3 md3 md4 md5 -- mig_failing
check "a cancelled migration: the source runs on, every byte checked; the destination gives up (exit 1)" \
  eval '[ "$(json_get "$c" ok)" = true ] && [ "$(json_get "$st3" result.phase)" = cancelled ] && $ok3 &&
        ! grep -q "CORRAL-TEST FAIL" "$work/ms3" && [ "$rc3" = 1 ]'
check "the destination killed mid-way: the migration fails, the source runs on, every byte checked" \
  eval '[ "$(json_get "$st4" result.phase)" = failed ] && json_get "$st4" result.error | grep -q "closed the connection" &&
        $ok4 && ! grep -q "CORRAL-TEST FAIL" "$work/ms3"'
check "a destination with another memory size refuses before the guest pauses (source runs on; destination exit 2)" \
  eval '[ "$(json_get "$st5" result.phase)" = failed ] && json_get "$st5" result.error | grep -q "refused" &&
        [ "$(json_get "$st5" result.round)" = 0 ] && [ "$(json_get "$st5" result.pages_sent)" = 0 ] &&
        [ "$rc5" = 2 ] && $ok5 && [ "$(json_get "$d" result.state)" = running ]'
# A VM restored from a snapshot and migrated at once: the RAM it has not
# touched since (still the snapshot file's) must go along too.  Paused right
# after the restore, so that most of its 16 MiB region is untouched.
mig_restored() {
rm -f "$work/ms8" "$work/ms8.sock"
timeout -k 5 120 "$VMM" --restore "$snap" --memory 96M --cpus 2 --rng --console "file=$work/ms8" \
  --api-socket "$work/ms8.sock" </dev/null >"$work/ms8.err" 2>&1 &
spid=$!
wait_for "$work/ms8.sock" 10 && api "$work/ms8.sock" '{"cmd":"pause"}' >/dev/null
mdst md8 "unix:$work/mig8.sock" --memory 96M
wait_for "$work/mig8.sock" 10
r=$(api "$work/ms8.sock" "{\"cmd\":\"migrate\",\"uri\":\"unix:$work/mig8.sock\"}")
wait $spid; src_rc=$?
for ((i = 0; i < 50; i++)); do [ -S "$work/md8.sock" ] && grep -q "stays paused" "$work/md8.err" && break; sleep 0.2; done
res=$(api "$work/md8.sock" '{"cmd":"resume"}')
ok_run=false; wait_passes "$work/md8" 2 && ok_run=true
kill9 $dpid; wait $dpid 2>/dev/null
mig_log ms8 md8
}
migration ms8 md8 -- mig_restored
check "a VM restored from a snapshot migrates at once: the memory it has not touched since goes along, every byte checked" \
  eval '[ "$(json_get "$r" ok)" = true ] && [ "$src_rc" = 0 ] && [ "$(json_get "$res" ok)" = true ] && $ok_run &&
        ! grep -q "CORRAL-TEST FAIL" "$work/md8"'

# TLS with a pre-shared key: what crosses the wire (a relay keeps it) is
# ciphertext; the same migration without a key shows the machine's shape in
# clear.  A destination with another key, or none, is refused; the source runs on.
for k in key other; do
  printf 'corral-test:%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$work/$k.psk"
done
tls_mig() {  # tls_mig NAME SRC_OPTS DST_OPTS: a migration through tcp_relay.py into $work/NAME.wire
  local rport=$((port + 7)) dport=$((port + 8)) rl
  msrc "s$1" "mib=4" $2
  mdst "d$1" "tcp:127.0.0.1:$dport" --memory 96M $3
  sleep 0.5
  python3 "$here/tcp_relay.py" $rport $dport "$work/$1.wire" >"$work/$1.relay" 2>&1 &
  rl=$!
  for ((i = 0; i < 50; i++)); do grep -q listening "$work/$1.relay" && break; sleep 0.1; done
  r=$(api "$work/s$1.sock" "{\"cmd\":\"migrate\",\"uri\":\"tcp:127.0.0.1:$rport\"}")
  st=$(mig_wait "$work/s$1.sock")
  sleep 0.3
  dd_ok=false src_rc=
  if kill -0 $spid 2>/dev/null; then    # failed: the source runs on
    d=$(api "$work/s$1.sock" '{"cmd":"describe"}' 2>/dev/null)
    kill9 $spid; wait $spid 2>/dev/null
  else                                  # completed: it exited
    wait $spid; src_rc=$?
    wait_passes "$work/d$1" 2 && dd_ok=true
  fi
  kill9 $dpid; wait $dpid 2>/dev/null
  kill $rl 2>/dev/null; wait $rl 2>/dev/null
  mig_log "s$1" "d$1"; echo "# $1: $st" >>"$log"
}
migration splain dplain -- tls_mig plain "" ""
plain_shape=false; grep -aq '"devices"' "$work/plain.wire" && plain_shape=true
migration stls dtls -- tls_mig tls "--migration-key $work/key.psk" "--migration-key $work/key.psk"
check "with --migration-key the stream is TLS: the migration completes, the wire shows no machine shape (a plain one does), the destination runs" \
  eval '[ "$src_rc" = 0 ] && grep -q "now runs at its migration" "$work/stls.err" && $dd_ok && $plain_shape &&
        [ "$(stat -c %s "$work/tls.wire")" -gt 1000000 ] && ! grep -aq "\"devices\"" "$work/tls.wire" &&
        grep -q "(TLS)" "$work/dtls.err"'
migration swrong dwrong -- tls_mig wrong "--migration-key $work/key.psk" "--migration-key $work/other.psk"
check "a destination with another key: the TLS handshake fails, the source runs on" \
  eval '[ "$(json_get "$st" result.phase)" = failed ] && json_get "$st" result.error | grep -q TLS &&
        [ "$(json_get "$d" result.state)" = running ] && ! $dd_ok'
migration snokey dnokey -- tls_mig nokey "--migration-key $work/key.psk" ""
check "a destination without a key: refused, the source runs on" \
  eval '[ "$(json_get "$st" result.phase)" = failed ] && [ "$(json_get "$d" result.state)" = running ] && ! $dd_ok'
echo "not a key" >"$work/wrong.key"
bad "a migration key that is not one" "the key must be" --incoming "unix:$work/k.sock" --memory 96M \
  --migration-key "$work/wrong.key"

# A NIC's address goes with its guest: a destination given another mac= refuses.
if ip netns add corral-vmm-m$$ 2>/dev/null; then
  ns="ip netns exec corral-vmm-m$$"
  $ns ip tuntap add dev mt0 mode tap && $ns ip tuntap add dev mt1 mode tap
  $ns timeout -k 5 120 "$VMM" --kernel "$G/guest-memcheck.pvh.elf" --memory 96M --cpus 2 --rng \
    --net tap=mt0,mac=52:54:00:00:00:01 --console "file=$work/ms7" --api-socket "$work/ms7.sock" \
    </dev/null >"$work/ms7.err" 2>&1 &
  spid=$!
  wait_for "$work/ms7.sock" 10 && wait_passes "$work/ms7" 3
  $ns timeout -k 5 120 "$VMM" --incoming "unix:$work/mig7.sock" --memory 96M --cpus 2 --rng \
    --net tap=mt1,mac=52:54:00:00:00:02 --console "file=$work/md7" </dev/null >"$work/md7.err" 2>&1 &
  dpid=$!
  wait_for "$work/mig7.sock" 10
  r=$(api "$work/ms7.sock" "{\"cmd\":\"migrate\",\"uri\":\"unix:$work/mig7.sock\"}")
  st=$(mig_wait "$work/ms7.sock")
  wait $dpid; dst_rc=$?
  d=$(api "$work/ms7.sock" '{"cmd":"describe"}')
  kill9 $spid; wait $spid 2>/dev/null
  ip netns del corral-vmm-m$$
  mig_log ms7 md7; echo "# $st" >>"$log"
  check "a destination whose NIC was given another mac= refuses: the guest knows its own (source runs on; destination exit 2)" \
    eval '[ "$(json_get "$st" result.phase)" = failed ] &&
          json_get "$st" result.error | grep -q "knows this interface as 52:54:00:00:00:01" &&
          [ "$dst_rc" = 2 ] && [ "$(json_get "$d" result.state)" = running ]'
else
  skip "a destination whose NIC was given another mac= refuses" "cannot create a network namespace here"
fi
bad "migration to nowhere" "not a migration address" --incoming "udp:1.2.3.4:5" --memory 96M

# ---- real Linux -------------------------------------------------------------
. "$here/linux.sh"
linux_tests

# ---- corrald's kvm engine --------------------------------------------------
. "$here/corrald.sh"
corrald_tests
echo "1..$tap_n"
