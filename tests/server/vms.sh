#!/usr/bin/env bash
# End-to-end tests of VMs, networks and the serial console (TAP), through
# corrald's API and the corral CLI: Debian's cloud kernel with a busybox
# shell initramfs under the qemu engine (TCG on hosts without VT-x/AMD-V).
#   tests/server/vms.sh BUILD_DIR
set -uo pipefail
exec 3>&1    # the TAP output, for diagnostics from commands whose output check() hides
B=$(cd "${1:-build}" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
ASSETS=${CORRAL_ASSETS:-$B/assets}
PID=

command -v qemu-system-x86_64 >/dev/null || { echo "1..0 # SKIP qemu-system-x86_64 is not installed"; exit 0; }
[ -s "$ASSETS/cloud/vmlinuz" ] || "$SRC/scripts/fetch-kernels.sh" "$ASSETS" >&2 ||
  { echo "1..0 # SKIP cannot fetch Debian's cloud kernel"; exit 0; }

T=$(mktemp -d /var/tmp/cvms.XXXXXX)    # short: VM sockets live under it
NS="cvt$$"
cleanup() {
  [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
  for p in $(sqlite3 "$T/state/corral.db" 'SELECT pid FROM vms WHERE pid > 0' 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
  net_cleanup "$T/state/corral.db"
  for l in $(ip -br link | awk '{print $1}' | grep -E "^($NS|ctp)" | sed 's/@.*//'); do
    sqlite3 "$T/state/corral.db" 'SELECT tag FROM vms' 2>/dev/null | grep -q "${l:3:6}" && ip link del "$l" 2>/dev/null
  done
  ip link del "${NS}a0" 2>/dev/null; ip link del "${NS}b0" 2>/dev/null
  ip netns del "${NS}a" 2>/dev/null; ip netns del "${NS}b" 2>/dev/null
  wait 2>/dev/null; rm -rf "$T"
}
trap cleanup EXIT

# The guest: Debian's cloud kernel with a busybox shell initramfs.
. "$SRC/tests/server/lib.sh"
shell_guest "$SRC" "$ASSETS" "$T" "$T/shell.cpio" || { echo "1..0 # SKIP cannot build the initramfs"; exit 0; }

PW='correct-horse-battery'
echo "$PW" >"$T/pw"
PORT=$(free_port)
SOCK=$T/c.sock
start() {
  corrald_start --listen "127.0.0.1:$PORT" --admin-password-file "$T/pw" --workers 2 --host-path-allow "$T" \
    --host-path-allow "$ASSETS/cloud" --host-path-allow "$B/tests/guests"
}
CLI() { "$B/corral" --socket "$SOCK" "$@"; }
vmj() { CLI --output json vm show "$1" | jq -r "$2"; }
WS() { python3 "$SRC/tests/server/ws.py" --unix "$SOCK" "$@"; }
# console VM CMD EXPECT: waits for a fresh shell prompt, types CMD, waits for
# EXPECT in what follows (so EXPECT must not be in CMD as typed: the tty echoes
# it; write 'echo X-$((6*7))' and expect X-42).  On failure the transcript's
# end goes to the TAP output (fd 3) as comments.
console() {
  WS "/api/v1/vms/$1/console" --prompt '# $' --send "$2" --expect "$3" --timeout 60 >"$T/console" 2>&1 && return 0
  { echo "# console $1: ws.py's transcript (last 1200 bytes, the reason last):"; tail -c 1200 "$T/console" | cat -v | sed 's/^/#   /'; } >&3
  return 1
}
# gone PID: the process ends within 3 s (init reaps it: a zombie counts as gone)
gone() { for _ in $(seq 30); do [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" = Z ] || ! kill -0 "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }
t4() { local want=$1 d=$2; shift 2; local s; s=$(sock "$@"); if [ "${s:0:1}" = 4 ] && { [ -z "$want" ] || [ "$s" = "$want" ]; }; then ok "$d -> $s $(jq -r .error.code "$T/body")"; else nok "$d -> ${want:-4xx}" "got $s $(cat "$T/body")"; fi; }

if start; then ok "corrald starts"; else nok "corrald starts" "$(tail -5 "$T/log")"; exit 1; fi
check "the host says which engine auto picks and why" bash -c "CORRAL_SOCKET='$SOCK' '$B/corral' --output json host show | jq -e '.engines.default_reason | length > 0'"

# ---- networks --------------------------------------------------------------------
check "corral net create n1 --subnet 10.213.1.0/24" CLI net create n1 --subnet 10.213.1.0/24
check "corral net create n2 --subnet 10.213.2.0/24" CLI net create n2 --subnet 10.213.2.0/24
BR1=$(CLI --output json net show n1 | jq -r .bridge); BR2=$(CLI --output json net show n2 | jq -r .bridge)
check "each network is a bridge holding its gateway address" bash -c "ip -br addr show $BR1 | grep -q 10.213.1.1/24 && ip -br addr show $BR2 | grep -q 10.213.2.1/24"
check "forwarding is off on the bridges (isolation even with ip_forward=1)" test "$(cat /proc/sys/net/ipv4/conf/$BR1/forwarding)$(cat /proc/sys/net/ipv4/conf/$BR2/forwarding)" = 00
check "corral net list shows both" bash -c "CORRAL_SOCKET='$SOCK' '$B/corral' net list | grep -q '^n1 ' && CORRAL_SOCKET='$SOCK' '$B/corral' net list | grep -q '^n2 '"
t4 409 "an overlapping subnet" POST /api/v1/networks '{"name":"n3","subnet":"10.213.1.128/25"}'
t4 400 "a subnet with host bits" POST /api/v1/networks '{"name":"n3","subnet":"10.213.3.1/24"}'
t4 400 "a subnet that is not CIDR" POST /api/v1/networks '{"name":"n3","subnet":"10.213.3.0"}'

# ---- VM configuration: bad requests -------------------------------------------------
KERN=$ASSETS/cloud/vmlinuz
sock POST /api/v1/pools '{"name":"p1"}' >/dev/null
CLI volume create p1 d1 --size 16M >/dev/null
vm() { printf '{"name":"%s","boot":{"kernel":"%s","initrd":"%s","cmdline":"console=ttyS0 quiet"}%s}' "$1" "$KERN" "$T/shell.cpio" "${2:-}"; }
t4 400 "a bad VM name" POST /api/v1/vms "$(vm Bad_Name)"
t4 400 "a relative kernel path" POST /api/v1/vms '{"name":"x1","boot":{"kernel":"vmlinuz"}}'
t4 400 "a kernel path with '..'" POST /api/v1/vms '{"name":"x1","boot":{"kernel":"/boot/../etc/passwd"}}'
t4 403 "a kernel outside the allowed directories (--host-path-allow)" POST /api/v1/vms '{"name":"x1","boot":{"kernel":"/nonexistent/vmlinuz"}}'
t4 400 "a kernel that does not exist" POST /api/v1/vms "{\"name\":\"x1\",\"boot\":{\"kernel\":\"$T/nonexistent\"}}"
mkdir -p "$T/adir"
t4 400 "a kernel that is a directory" POST /api/v1/vms "{\"name\":\"x1\",\"boot\":{\"kernel\":\"$T/adir\"}}"
t4 400 "both kernel and boot volume" POST /api/v1/vms "{\"name\":\"x1\",\"boot\":{\"kernel\":\"$KERN\",\"volume\":\"p1/d1\"}}"
t4 400 "no boot at all" POST /api/v1/vms '{"name":"x1"}'
t4 400 "memory 1K" POST /api/v1/vms "$(vm x1 ',"memory":"1K"')"
t4 400 "vcpus 0" POST /api/v1/vms "$(vm x1 ',"vcpus":0')"
t4 400 "an unknown engine" POST /api/v1/vms "$(vm x1 ',"engine":"xen"')"
t4 400 "an unknown field inside boot" POST /api/v1/vms "{\"name\":\"x1\",\"boot\":{\"kernel\":\"$KERN\",\"colour\":1}}"
t4 400 "a cmdline with a newline" POST /api/v1/vms "{\"name\":\"x1\",\"boot\":{\"kernel\":\"$KERN\",\"cmdline\":\"a\\nb\"}}"
t4 400 "a disk that does not exist" POST /api/v1/vms "$(vm x1 ',"disks":["p1/nope"]')"
t4 400 "a disk that is not POOL/VOLUME" POST /api/v1/vms "$(vm x1 ',"disks":["../../etc/passwd"]')"
t4 "" "a NIC on an unknown network" POST /api/v1/vms "$(vm x1 ',"nics":[{"network":"nope"}]')"
t4 400 "a NIC address outside the subnet" POST /api/v1/vms "$(vm x1 ',"nics":[{"network":"n1","address":"10.9.9.9"}]')"
t4 400 "a multicast MAC" POST /api/v1/vms "$(vm x1 ',"nics":[{"network":"n1","mac":"01:00:5e:00:00:01"}]')"
t4 400 "nine disks" POST /api/v1/vms "$(vm x1 ',"disks":["p1/d1","p1/d1","p1/d1","p1/d1","p1/d1","p1/d1","p1/d1","p1/d1","p1/d1"]')"
t4 404 "an unknown VM" GET /api/v1/vms/nope

# ---- VM images: the guest's kernel, initrd and command line imported once ----------------
check "corral image import shell --kernel --initrd --cmdline (a VM boot image)" \
  CLI image import shell --kernel "$KERN" --initrd "$T/shell.cpio" --cmdline "console=ttyS0 quiet"
sock GET /api/v1/images/shell >/dev/null
check "GET /images/shell: type vm, a bzImage, the files' sizes and SHA-256s, the command line" \
  jq -e --arg ks "$(sha256sum <"$KERN" | cut -c1-64)" --arg is "$(sha256sum <"$T/shell.cpio" | cut -c1-64)" \
  ".metadata | .type == \"vm\" and .kernel.format == \"bzImage\" and .kernel.sha256 == \$ks and .kernel.size == $(stat -c %s "$KERN") and .initrd.sha256 == \$is and .cmdline == \"console=ttyS0 quiet\"" "$T/body"
check "...the image holds copies of the files, in the state dir" cmp "$KERN" "$T/state/vm-images/shell/kernel"
check "corral image list shows it with its type" bash -c "CORRAL_SOCKET='$SOCK' '$B/corral' image list | grep -q '^shell  *vm '"
t4 409 "importing a second image named shell" POST /api/v1/images "{\"name\":\"shell\",\"type\":\"vm\",\"kernel\":\"$KERN\"}"
t4 400 "a VM image whose kernel is not a kernel" POST /api/v1/images "{\"name\":\"k2\",\"type\":\"vm\",\"kernel\":\"$T/shell.cpio\"}"
check "...the error says what a kernel must be" grep -q "not a bzImage or ELF image" "$T/body"
t4 400 "a VM image without a kernel" POST /api/v1/images '{"name":"k2","type":"vm","initrd":"/etc/passwd"}'
t4 400 "a VM image with a container image's path" POST /api/v1/images "{\"name\":\"k2\",\"type\":\"vm\",\"kernel\":\"$KERN\",\"path\":\"/tmp\"}"
t4 400 "an image of an unknown type" POST /api/v1/images '{"name":"k2","type":"iso","path":"/tmp"}'
t4 400 "a VM image whose initrd does not exist" POST /api/v1/images "{\"name\":\"k2\",\"type\":\"vm\",\"kernel\":\"$KERN\",\"initrd\":\"$T/nonexistent\"}"
t4 403 "a VM image whose initrd is outside the allowed directories" POST /api/v1/images "{\"name\":\"k2\",\"type\":\"vm\",\"kernel\":\"$KERN\",\"initrd\":\"/nonexistent\"}"
check "...none of them left a directory behind" test "$(ls -A "$T/state/vm-images")" = shell
t4 400 "a VM booting an image that does not exist" POST /api/v1/vms '{"name":"x1","boot":{"image":"nope"}}'
t4 400 "a VM booting an image with its own initrd" POST /api/v1/vms "{\"name\":\"x1\",\"boot\":{\"image\":\"shell\",\"initrd\":\"$T/shell.cpio\"}}"
t4 400 "a VM booting both an image and a kernel" POST /api/v1/vms "{\"name\":\"x1\",\"boot\":{\"image\":\"shell\",\"kernel\":\"$KERN\"}}"

# ---- create, start, console ------------------------------------------------------------
T0=$(date +%s%N)
s=$(sock POST /api/v1/vms '{"name":"vm1","engine":"qemu","memory":"256M","boot":{"image":"shell"},"disks":["p1/d1"],"nics":[{"network":"n1","address":"10.213.1.2"}]}')
check "POST /vms creates vm1 booting image shell (201, stopped)" test "$s:$(jq -r .metadata.state "$T/body")" = 201:stopped
t4 409 "deleting the image vm1 boots" DELETE /api/v1/images/shell
t4 409 "a second VM on the same disk" POST /api/v1/vms "$(vm x2 ',"disks":["p1/d1"]')"
t4 409 "a second VM with the same address" POST /api/v1/vms "$(vm x2 ',"nics":[{"network":"n1","address":"10.213.1.2"}]')"
check "a volume a VM uses cannot be deleted (exit 1)" bash -c "! CORRAL_SOCKET='$SOCK' '$B/corral' volume delete p1 d1"
check "corral vm start vm1" CLI vm start vm1
check "vm1 is running on the qemu engine" test "$(vmj vm1 .state):$(vmj vm1 .running_engine)" = running:qemu
VPID=$(vmj vm1 .pid)
check "its engine runs in a session of its own, not as corrald's child" test "$(ps -o sid= -p "$VPID" | tr -d ' ')" != "$(ps -o sid= -p "$PID" | tr -d ' ')" -a "$(ps -o ppid= -p "$VPID" | tr -d ' ')" != "$PID"
check "its QEMU runs jailed: the VM's own uid, chrooted, seccomp on, no capabilities" \
  eval 'grep -q "^Uid:.*$((0x60000000 + 1))" /proc/$VPID/status && [ "$(readlink /proc/$VPID/root)" = "$T/state/vms/1/jail" ] &&
        grep -q "^Seccomp:[[:space:]]*2" /proc/$VPID/status && grep -q "^CapEff:[[:space:]]*0*$" /proc/$VPID/status'
t4 400 "the console without a WebSocket upgrade" GET /api/v1/vms/vm1/console
check "a console WebSocket opened by another site's page (Origin) is refused: 403" \
  bash -c "WS_OUT=\$(python3 '$SRC/tests/server/ws.py' --unix '$SOCK' /api/v1/vms/vm1/console --header 'Origin: https://evil.example' --ping --timeout 5); grep -q ' 403 ' <<<\"\$WS_OUT\""
check "...one opened by this host's own page is accepted" WS /api/v1/vms/vm1/console --header "Origin: https://corrald" --ping --timeout 5
TAP=$(ip -br link show master "$BR1" | awk '{print $1}' | head -1)
check "its tap is on n1's bridge" test -n "$TAP"
if console vm1 'echo CORRAL-$((6*7))' 'CORRAL-42'; then
  ok "the console (WebSocket) answers a typed command: CORRAL-42 ($(( ($(date +%s%N) - T0) / 1000000 )) ms from create)"
else nok "the console answers a typed command"; fi
check "the console sends Sec-WebSocket-Accept and answers pings" WS /api/v1/vms/vm1/console --ping --timeout 5
WS /api/v1/vms/vm1/console --timeout 4 >/dev/null 2>&1 &
HOLD=$!; sleep 1
s=$(WS /api/v1/vms/vm1/console --timeout 2 2>/dev/null | head -1)
check "a second console client gets 409 while one is attached" grep -q 409 <<<"$s"
wait $HOLD
out=$( (sleep 1; echo 'echo CLI-$((6*7))'; sleep 2) | CLI vm console vm1 2>&1)
check "corral vm console relays stdin and prints the answer" grep -q CLI-42 <<<"$out"
console vm1 '(sleep 2; echo LATE-$((6*7))) & echo BG-$((6*7))' 'BG-42'
sleep 4
check "output written while no client was attached is replayed to the next one (scrollback)" WS /api/v1/vms/vm1/console --expect LATE-42 --timeout 5
# Over HTTPS with an operator's API token (the remote path).
sock POST /api/v1/users "{\"name\":\"op1\",\"role\":\"operator\",\"password\":\"$PW\"}" >/dev/null
curl -s --cacert "$T/state/tls/server.crt" -c "$T/jar" -H 'Content-Type: application/json' \
  -d "{\"username\":\"op1\",\"password\":\"$PW\"}" "https://127.0.0.1:$PORT/api/v1/auth/login" >"$T/login"
TOK=$(curl -s --cacert "$T/state/tls/server.crt" -b "$T/jar" -H "X-CSRF-Token: $(jq -r .metadata.csrf_token "$T/login")" \
  -H 'Content-Type: application/json' -d '{"name":"t1"}' "https://127.0.0.1:$PORT/api/v1/tokens" | jq -r .metadata.token)
out=$( (sleep 1; echo 'echo TLS-$((6*7))'; sleep 2) | "$B/corral" --remote "https://127.0.0.1:$PORT" --token "$TOK" \
  --ca-cert "$T/state/tls/server.crt" vm console vm1 2>&1)
check "corral --remote --token vm console works over HTTPS (operator token)" grep -q TLS-42 <<<"$out"

# ---- networks: the VM on n1, netns peers on n1 and n2 ------------------------------------------
check "the VM got its address and route from n1's DHCP (busybox udhcpc in the guest)" console vm1 \
  'for i in $(seq 40); do ip -4 addr show eth0 | grep -q "inet 10.213.1.2/24" && ip route | grep -q "default via 10.213.1.1" && break; sleep 0.5; done; ip -4 addr show eth0 | grep -q "inet 10.213.1.2/24" && echo NET-$((6*7))' 'NET-42'
ip netns add "${NS}a"; ip netns add "${NS}b"
ip link add "${NS}a0" type veth peer name eth0 netns "${NS}a"; ip link set "${NS}a0" master "$BR1" up
ip link add "${NS}b0" type veth peer name eth0 netns "${NS}b"; ip link set "${NS}b0" master "$BR2" up
ip -n "${NS}a" addr add 10.213.1.50/24 dev eth0; ip -n "${NS}a" link set eth0 up; ip -n "${NS}a" route add default via 10.213.1.1
ip -n "${NS}b" addr add 10.213.2.50/24 dev eth0; ip -n "${NS}b" link set eth0 up; ip -n "${NS}b" route add default via 10.213.2.1
check "a peer on n1 reaches the VM through its tap (busybox ping 10.213.1.2)" ip netns exec "${NS}a" busybox ping -c 2 -W 3 10.213.1.2
check "a peer on n2 reaches its own gateway" ip netns exec "${NS}b" busybox ping -c 1 -W 2 10.213.2.1
check "a peer on n2 cannot reach the VM on n1 (host ip_forward=$(cat /proc/sys/net/ipv4/ip_forward))" bash -c "! ip netns exec ${NS}b busybox ping -c 2 -W 2 10.213.1.2"
check "...nor the peer on n1" bash -c "! ip netns exec ${NS}b busybox ping -c 1 -W 2 10.213.1.50"
check "corral net show n1 lists vm1's NIC and address" bash -c "CORRAL_SOCKET='$SOCK' '$B/corral' --output json net show n1 | jq -e '.nics[0].vm == \"vm1\" and .nics[0].address == \"10.213.1.2\"'"
t4 409 "deleting a network a VM uses" DELETE /api/v1/networks/n1

# ---- lifecycle: pause, resume, busy, shutdown -------------------------------------------------------
check "corral vm pause vm1" CLI vm pause vm1
check "...its state is paused" test "$(vmj vm1 .state)" = paused
check "...and QEMU says so too" bash -c "echo '{\"execute\":\"qmp_capabilities\"}{\"execute\":\"query-status\"}' | socat - UNIX-CONNECT:$T/state/vms/1/control.sock | grep -q '\"status\": \"paused\"'"
t4 409 "pausing a paused VM" POST /api/v1/vms/vm1/pause
check "corral vm resume vm1" CLI vm resume vm1
check "...the console answers again" console vm1 'echo AGAIN-$((6*7))' 'AGAIN-42'
CLI --output json vm shutdown vm1 --timeout 3 --no-wait >"$T/op"
OP=$(jq -r .id "$T/op")
t4 409 "an action while another runs on the VM gets busy" POST /api/v1/vms/vm1/pause
check "...the error says busy" test "$(jq -r .error.code "$T/body")" = busy
sock GET "/api/v1/operations/$OP/wait?timeout=20" >/dev/null
check "a shutdown the guest ignores fails after its timeout with a clear message" bash -c "jq -e '.metadata.status == \"failure\" and (.metadata.error | test(\"did not power off within 3 s\"))' '$T/body'"
check "...and leaves the VM running" test "$(vmj vm1 .state)" = running
# Now the guest powers off on the ACPI power button (the watchers get a second
# to open their devices before the button is pressed).
console vm1 'for e in /dev/input/event*; do (head -c 1 $e >/dev/null; poweroff -f) & done; sleep 1; echo WATCH-$((6*7))' 'WATCH-42'
check "corral vm shutdown vm1 (graceful, ACPI power button)" CLI vm shutdown vm1 --timeout 60
check "...vm1 is stopped" test "$(vmj vm1 .state)" = stopped
check "...and its engine gone" gone "$VPID"
check "...and its tap removed" bash -c "! ip link show $TAP"

# ---- kill -9 corrald: the VM runs on; a new corrald re-adopts it --------------------------------------
CLI vm start vm1 >/dev/null
VPID=$(vmj vm1 .pid)
kill -9 "$PID"; wait "$PID" 2>/dev/null; PID=
sleep 1
check "after kill -9 of corrald the VM still runs" kill -0 "$VPID"
mkdir "$T/state/vm-images/.import-x1"; echo half >"$T/state/vm-images/.import-x1/kernel"    # an import it was killed in
if start; then ok "corrald restarts"; else nok "corrald restarts" "$(tail -5 "$T/log")"; fi
check "...and removes the unfinished import a killed corrald left" test ! -e "$T/state/vm-images/.import-x1"
check "it re-adopted the VM (same pid, running)" test "$(vmj vm1 .pid):$(vmj vm1 .state)" = "$VPID:running"
check "...and says so in its log" grep -q "VM vm1: re-adopted its qemu engine (pid $VPID" "$T/log"
check "the re-adopted VM's console answers" console vm1 'echo ADOPT-$((6*7))' 'ADOPT-42'
check "corral vm stop (hard) stops the re-adopted VM" CLI vm stop vm1
check "...its engine is gone" gone "$VPID"

# ---- restart; a guest that powers off by itself ---------------------------------------------------------
CLI vm start vm1 >/dev/null
VPID=$(vmj vm1 .pid)
check "corral vm restart vm1 (forced after 2 s) runs a new engine" bash -c "CORRAL_SOCKET='$SOCK' '$B/corral' vm restart vm1 --timeout 2 && [ \"\$(CORRAL_SOCKET='$SOCK' '$B/corral' --output json vm show vm1 | jq -r .pid)\" != $VPID ]"
WS /api/v1/vms/vm1/console --prompt '# $' --send 'poweroff -f' --timeout 60 >/dev/null 2>&1    # until the console closes
for _ in $(seq 50); do [ "$(vmj vm1 .state)" = stopped ] && break; sleep 0.2; done
check "a guest that powers off by itself is noticed: vm1 stopped" test "$(vmj vm1 .state)" = stopped
check "...with a vm.stopped lifecycle change by corrald in the audit log" bash -c "curl -s --unix-socket '$SOCK' 'http://x/api/v1/audit?limit=50' | jq -e '.metadata | any(.action == \"vm.stopped\" and .actor == \"corrald\" and .target == \"vm1\")'"

# ---- a failed start leaves nothing behind; engines ---------------------------------------------------------
if [ "$("$SRC/scripts/kvm-kind.sh")" = hw ]; then
  s=$(sock POST /api/v1/vms "{\"name\":\"k1\",\"engine\":\"kvm\",\"memory\":\"64M\",\"boot\":{\"kernel\":\"$B/tests/guests/guest-serial.pvh.elf\"}}")
  check "a kvm-engine VM (corral-vmm) runs a test guest" bash -c "CORRAL_SOCKET='$SOCK' '$B/corral' vm start k1 && [ \"\$(CORRAL_SOCKET='$SOCK' '$B/corral' --output json vm show k1 | jq -r .running_engine)\" = kvm ]"
  CLI vm stop k1 >/dev/null 2>&1; CLI vm delete k1 >/dev/null 2>&1
else
  skip "a kvm-engine VM (corral-vmm) runs a test guest" "no hardware-assisted /dev/kvm here; tests/vmm/corrald.sh runs this engine inside the nested L1"
  s=$(sock POST /api/v1/vms "$(vm k1 ',"engine":"kvm","nics":[{"network":"n2"}]')")
  out=$(CLI vm start k1 2>&1)
  check "starting a kvm-engine VM here fails with a message naming the engine" grep -q "kvm engine" <<<"$out"
  check "...and leaves nothing behind (stopped, no pid, no tap)" bash -c "[ \"\$(CORRAL_SOCKET='$SOCK' '$B/corral' --output json vm show k1 | jq -r '.state + (.pid|tostring)')\" = stoppednull ] && [ -z \"\$(ip -br link show master $BR2 | grep ctp)\" ]"
  CLI vm delete k1 >/dev/null 2>&1
fi

# ---- delete --------------------------------------------------------------------------------------------
check "corral vm delete vm1" CLI vm delete vm1
t4 404 "vm1 is gone" GET /api/v1/vms/vm1
check "corral image delete shell, once no VM boots it" CLI image delete shell
check "...its files are gone" test ! -e "$T/state/vm-images/shell"
check "corral net delete n1 removes its bridge" bash -c "CORRAL_SOCKET='$SOCK' '$B/corral' net delete n1 && ! ip link show $BR1"
check "corral vm --help and net --help" bash -c "'$B/corral' vm --help | grep -q console && '$B/corral' net --help | grep -q subnet"
kill -TERM "$PID"; wait "$PID"; rc=$?; PID=
check "corrald stops cleanly (SIGTERM)" test $rc = 0

echo "1..$n"
[ $failed -eq 0 ]
